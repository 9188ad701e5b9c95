// Turns what Nunjucks throws into a message and a position a user can act on: the template the
// error is in, its line and column, and for an undefined value the expression that was undefined
// (Nunjucks itself only says "attempted to output null or undefined value").

import path from 'node:path';
import type nunjucks from 'nunjucks';
import { type AstNode, outputNodes, templateReferenceNodes } from './nunjucks-internals.js';
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
  const template = templateOfCompileError(err) ?? templateInStack(e) ?? fallbackTemplate;
  const { line, col } = position(e, env, template === undefined ? undefined : sourceOf(template), template);
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

/** The innermost compiled template on the error's stack (see template-loader.ts). */
function templateInStack(e: NunjucksError): string | undefined {
  for (let current: unknown = e; typeof current === 'object' && current !== null; ) {
    const stack = (current as NunjucksError).stack;
    const match = typeof stack === 'string' ? SOURCE_URL_IN_STACK.exec(stack) : null;
    if (match?.[1]) return decodeURIComponent(match[1]);
    current = (current as NunjucksError).cause;
  }
  return undefined;
}

/**
 * Nunjucks prefixes the message with `(template) [Line x, Column y]` lines as the error passes
 * through each template, and wraps foreign errors as `Name: message`; keep what the user wrote.
 */
function originalMessage(e: NunjucksError): string {
  if (e.cause instanceof Error) return e.cause.message;
  let message = typeof e.message === 'string' ? e.message : String(e.message);
  const prefix = /^\([^\n]*\)(?: \[Line \d+(?:, Column \d+)?\])?\n\s*/;
  while (prefix.test(message)) message = message.replace(prefix, '');
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
  if (e.cause === undefined) return { line: positive(e.lineno), col: positive(e.colno) };
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
