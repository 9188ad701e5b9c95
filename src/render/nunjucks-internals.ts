// The parts of Nunjucks that its type definitions leave out: the compiler (so the template
// loader can compile each template itself and name the compiled code after the template file),
// the parser and the AST node classes (so an error can name the expression that was undefined).
// They are public exports of the `nunjucks` package; only their typings are missing.

import nunjucks from 'nunjucks';
import { parseJinja2 } from './jinja2/parser.js';

export interface AstNode {
  typename: string;
  lineno: number;
  colno: number;
  /** Symbol / Literal */
  value?: unknown;
  /** LookupVal */
  target?: AstNode;
  val?: AstNode;
  /** NodeList / Output */
  children?: AstNode[];
  /** Extends / Include / Import / FromImport: the template expression. */
  template?: AstNode;
  /** Filter: the filter's name (a Symbol). */
  name?: AstNode;
  findAll(type: unknown, results?: AstNode[]): AstNode[];
}

interface Internals {
  compiler: {
    compile(src: string, asyncFilters: unknown, extensions: unknown, name: string, opts: unknown): string;
  };
  parser: { parse(src: string, extensions: unknown, opts: unknown): AstNode };
  nodes: {
    Output: unknown;
    Extends: unknown;
    Include: unknown;
    Import: unknown;
    FromImport: unknown;
    Filter: unknown;
  };
}

/** What an Environment holds besides its typed API; the compiler needs it. */
export interface EnvironmentInternals {
  asyncFilters: unknown;
  extensionsList: unknown;
  opts: unknown;
}

const internals = nunjucks as unknown as Internals;

/** The JavaScript source of a compiled template, as Nunjucks' own Template would produce it. */
export function compileTemplateSource(env: nunjucks.Environment, src: string, name: string): string {
  const e = env as unknown as EnvironmentInternals;
  return internals.compiler.compile(src, e.asyncFilters, e.extensionsList, name, e.opts);
}

/** Every `{{ … }}` node of a template, with its 0-based position. */
export function outputNodes(env: nunjucks.Environment, src: string): AstNode[] {
  const e = env as unknown as EnvironmentInternals;
  return (parseJinja2(src, e.extensionsList, e.opts) as unknown as AstNode).findAll(internals.nodes.Output);
}

/** Every tag that loads another template (extends, include, import, from … import). */
export function templateReferenceNodes(env: nunjucks.Environment, src: string): AstNode[] {
  const e = env as unknown as EnvironmentInternals;
  const root = parseJinja2(src, e.extensionsList, e.opts) as unknown as AstNode;
  const { Extends, Include, Import, FromImport } = internals.nodes;
  return [Extends, Include, Import, FromImport]
    .flatMap((type) => root.findAll(type))
    .sort((a, b) => a.lineno - b.lineno || a.colno - b.colno);
}

/** Every `| filter` of a template, with its 0-based position. */
export function filterNodes(env: nunjucks.Environment, src: string): AstNode[] {
  const e = env as unknown as EnvironmentInternals;
  return internals.parser.parse(src, e.extensionsList, e.opts).findAll(internals.nodes.Filter);
}
