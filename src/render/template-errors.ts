// Turns what Nunjucks throws into a message and a position a user can act on: the template the
// error is in, its line and column, and for an undefined value the expression that was undefined
// (Nunjucks itself only says "attempted to output null or undefined value").

import path from 'node:path';
import type nunjucks from 'nunjucks';
import { type AstNode, filterNodes, outputNodes, templateReferenceNodes } from './nunjucks-internals.js';
import {
  PARENT_TEMPLATE,
  TEMPLATE_SOURCE_URL,
  TemplateLookupError,
  templateOfCompileError,
} from './template-loader.js';

export interface TemplateProblem {
  message: string;
  /** The template the error is in, when known (a loader name). */
  template?: string;
  /** 1-based. */
  line?: number;
  /** 1-based. */
  col?: number;
  /** For an undefined value: the expression, e.g. `image.args.VERSION`. */
  undefinedExpression?: string;
}

const UNDEFINED_OUTPUT = 'attempted to output null or undefined value';
const SOURCE_URL_IN_STACK = new RegExp(`${TEMPLATE_SOURCE_URL}([^\\s():]+)`);

interface NunjucksError {
  message?: unknown;
  lineno?: unknown;
  colno?: unknown;
  cause?: unknown;
  stack?: unknown;
}

/**
 * Describes a Nunjucks error. `sourceOf` returns the source of a template by name (or of the
 * string template when there is only one); `fallbackTemplate` is the one being rendered, used when
 * the error does not say where it comes from.
 */
export function describeTemplateError(
  err: unknown,
  env: nunjucks.Environment,
  sourceOf: (template: string | undefined) => string | undefined,
  fallbackTemplate?: string,
): TemplateProblem {
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as NunjucksError;
  // After a stack overflow, neither the stack (cut short) nor the position (set by whichever
  // template caught it) says where the recursion is: name the template rendered, no line.
  if (isStackOverflow(e))
    return {
      message: RECURSION_MESSAGE,
      ...(fallbackTemplate === undefined ? {} : { template: fallbackTemplate }),
    };
  const template = templateOfCompileError(err) ?? templateInStack(e) ?? fallbackTemplate;
  const { line, col } = position(e, env, sourceOf(template), template);
  const problem: TemplateProblem = { message: originalMessage(e) };
  if (template !== undefined) problem.template = template;
  if (line !== undefined) problem.line = line;
  if (col !== undefined) problem.col = col;
  if (problem.message === UNDEFINED_OUTPUT && line !== undefined && col !== undefined) {
    const source = sourceOf(template);
    const expression = source === undefined ? undefined : undefinedExpressionAt(env, source, line, col);
    if (expression !== undefined) {
      problem.undefinedExpression = expression;
      problem.message = `undefined variable "${expression}"`;
    } else {
      problem.message = 'an expression is undefined';
    }
  }
  return problem;
}

/**
 * Loops by name are found before rendering (template-loops.ts); what is left to overflow the
 * stack is recursion the names do not show.
 */
const RECURSION_MESSAGE =
  'template recursion too deep: a macro that calls itself without end, or a template loaded by a computed name that leads back to itself';

function isStackOverflow(e: NunjucksError): boolean {
  for (let current: unknown = e; typeof current === 'object' && current !== null; ) {
    const message = (current as NunjucksError).message;
    // Other RangeErrors ("Invalid string length" of `"x" * 1000000000`) are no recursion.
    if (current instanceof RangeError && typeof message === 'string' && message.includes('call stack'))
      return true;
    if (typeof message === 'string' && message.endsWith('Maximum call stack size exceeded')) return true;
    current = (current as NunjucksError).cause;
  }
  return false;
}

/**
 * The innermost compiled template on the stack of the error where it was thrown (see
 * template-loader.ts): the deepest cause that has one. Nunjucks wraps the error once per template
 * it passes; on Node 24 each wrapper has its own stack, taken where the wrapping happened.
 */
function templateInStack(e: NunjucksError): string | undefined {
  let found: string | undefined;
  for (
    let current: unknown = e, depth = 0;
    typeof current === 'object' && current !== null && depth < 16;
    depth++
  ) {
    const stack = (current as NunjucksError).stack;
    const match = typeof stack === 'string' ? SOURCE_URL_IN_STACK.exec(stack) : null;
    if (match?.[1]) found = decodeURIComponent(match[1]);
    current = (current as NunjucksError).cause;
  }
  return found;
}

/**
 * Nunjucks prefixes the message with `(template) [Line x, Column y]` lines as the error passes
 * through each template, and wraps foreign errors as `Name: message`; keep what the user wrote.
 */
function originalMessage(e: NunjucksError): string {
  let message =
    e.cause instanceof Error
      ? e.cause.message
      : typeof e.message === 'string'
        ? e.message
        : String(e.message);
  // A wrapped error may itself be a wrapped error: strip every layer, and the parser's function
  // names (`parseIf: expected …`), which mean nothing to a template's author.
  const prefix =
    /^(?:\([^\n]*\)(?: \[Line \d+(?:, Column \d+)?\])?\n\s*|Template render error: |Error: |parse[A-Z]\w*: )/;
  while (prefix.test(message)) message = message.replace(prefix, '');
  // V8's words for a string or list past its limit (`"x" * 1000000000`).
  if (/^Invalid (string|array) length$/.test(message))
    return `a value too large to build (${message.toLowerCase()}): a repetition or concatenation without bound?`;
  return message;
}

/**
 * Nunjucks' own errors (undefined output, syntax) carry exact 1-based positions. A foreign error
 * (a failing filter, a template that cannot be loaded) is wrapped by Nunjucks with the 0-based
 * position of the last call made, or 0:0 when there was none; a template that cannot be loaded
 * is found by its extends/include/import tag instead.
 */
function position(
  e: NunjucksError,
  env: nunjucks.Environment,
  source: string | undefined,
  template: string | undefined,
): { line?: number; col?: number } {
  if (e.cause === undefined) {
    const line = positive(e.lineno);
    if (line !== undefined) return { line, col: positive(e.colno) };
    // The parser reports a tag left open without a position: it ran into the end of the file.
    if (source !== undefined && /end of file/.test(originalMessage(e))) return endOf(source);
    return {};
  }
  const filter = /^filter not found: (\S+)$/.exec(originalMessage(e));
  if (filter && source !== undefined) {
    const node = filterNode(env, source, filter[1]!);
    if (node) return { line: node.lineno + 1, col: node.colno + 1 };
  }
  if (e.cause instanceof TemplateLookupError && source !== undefined && template !== undefined) {
    const tag = referenceTag(env, source, template, e.cause.requested);
    if (tag) return { line: tag.lineno + 1, col: tag.colno + 1 };
  }
  const line = typeof e.lineno === 'number' ? e.lineno : 0;
  const col = typeof e.colno === 'number' ? e.colno : 0;
  return line > 0 || col > 0 ? { line: line + 1, col: col + 1 } : {};
}

/** The extends/include/import tag of `template` that asked for `requested`. */
function referenceTag(
  env: nunjucks.Environment,
  source: string,
  template: string,
  requested: string | undefined,
): AstNode | undefined {
  let tags: AstNode[];
  try {
    tags = templateReferenceNodes(env, source);
  } catch {
    return undefined;
  }
  const asks = (tag: AstNode): boolean => {
    const name = tag.template;
    if (name?.typename === 'Symbol') return requested === PARENT_TEMPLATE && name.value === 'parent_template';
    if (name?.typename !== 'Literal' || typeof name.value !== 'string') return false;
    const relative = path.posix.normalize(path.posix.join(path.posix.dirname(template), name.value));
    return name.value === requested || relative === requested;
  };
  return tags.find(asks) ?? (tags.length === 1 ? tags[0] : undefined);
}

/** The `| name` of the first use of a filter (Nunjucks names it without a position). */
function filterNode(env: nunjucks.Environment, source: string, name: string): AstNode | undefined {
  try {
    return filterNodes(env, source).find((node) => node.name?.value === name);
  } catch {
    return undefined;
  }
}

/** 1-based line and column just past the last character. */
function endOf(source: string): { line: number; col: number } {
  const lines = source.replace(/\n$/, '').split('\n');
  return { line: lines.length, col: lines[lines.length - 1]!.length + 1 };
}

function positive(n: unknown): number | undefined {
  return typeof n === 'number' && Number.isInteger(n) && n > 0 ? n : undefined;
}

/** The expression of the `{{ … }}` at a 1-based position, as the user would write it. */
function undefinedExpressionAt(
  env: nunjucks.Environment,
  source: string,
  line: number,
  col: number,
): string | undefined {
  let outputs: AstNode[];
  try {
    outputs = outputNodes(env, source);
  } catch {
    return undefined;
  }
  const output = outputs.find((node) => node.lineno + 1 === line && node.colno + 1 === col);
  const expression = output?.children?.[0];
  return expression ? expressionText(expression) : undefined;
}

function expressionText(node: AstNode): string | undefined {
  if (node.typename === 'Symbol') return String(node.value);
  if (node.typename === 'LookupVal' && node.target && node.val) {
    const base = expressionText(node.target);
    if (base === undefined) return undefined;
    const key = node.val.typename === 'Literal' ? node.val.value : undefined;
    if (typeof key === 'string' && /^[A-Za-z_]\w*$/.test(key)) return `${base}.${key}`;
    if (typeof key === 'string' || typeof key === 'number') return `${base}[${JSON.stringify(key)}]`;
    const index = expressionText(node.val);
    if (index !== undefined) return `${base}[${index}]`;
  }
  return undefined;
}
