// Typed handles on the Nunjucks parts the Jinja2 layer extends: the parser, the compiler, the
// lexer's token names, the AST node classes and the transformer that runs between them. They are
// what `nunjucks.compiler.compile` itself uses; the typings of the package leave them out.

import nunjucks from 'nunjucks';
// The transformer is not re-exported by the package's index; the compiler requires it by path.
// A static import, so that a bundle holds one copy of the node classes it checks against.
import transformer from 'nunjucks/src/transformer.js';

export interface Token {
  type: string;
  value: string;
  lineno: number;
  colno: number;
}

export interface Node {
  typename: string;
  lineno: number;
  colno: number;
  children: Node[];
  [field: string]: unknown;
  addChild(node: Node): void;
}

export type NodeClass = (new (
  lineno: number,
  colno: number,
  ...fields: unknown[]
) => Node) & {
  extend(name: string, props: { fields: string[] }): NodeClass;
};

export interface ParserBase {
  tokens: unknown;
  extensions: unknown;
  peekToken(): Token;
  nextToken(withWhitespace?: boolean): Token | null;
  pushToken(tok: Token): void;
  skip(type: string): boolean;
  skipValue(type: string, value: string): boolean;
  skipSymbol(value: string): boolean;
  fail(message: string, lineno?: number, colno?: number): never;
  parseExpression(): Node;
  parseCompare(): Node;
  parsePrimary(noPostfix?: boolean): Node;
  parseAsRoot(): Node;
}

export interface CompilerBase {
  /** The JavaScript variable the template's output is appended to. */
  buffer: string;
  throwOnUndefined: boolean;
  _emit(code: string): void;
  _emitLine(code: string): void;
  compileLiteral(node: Node, frame: unknown): void;
  compileFromImport(node: Node, frame: unknown): void;
  compileImport(node: Node, frame: unknown): void;
  compile(node: Node, frame: unknown): void;
  _compileExpression(node: Node, frame: unknown): void;
  assertType(node: Node, ...types: unknown[]): void;
  getCode(): string;
}

/** The lexer's token type names used here. */
interface Lexer {
  lex(src: string, opts: unknown): unknown;
  TOKEN_LEFT_PAREN: string;
  TOKEN_RIGHT_PAREN: string;
  TOKEN_LEFT_BRACKET: string;
  TOKEN_RIGHT_BRACKET: string;
  TOKEN_LEFT_CURLY: string;
  TOKEN_RIGHT_CURLY: string;
  TOKEN_COMMA: string;
  TOKEN_COLON: string;
  TOKEN_OPERATOR: string;
  TOKEN_SYMBOL: string;
  TOKEN_BLOCK_END: string;
  TOKEN_STRING: string;
  TOKEN_INT: string;
  TOKEN_FLOAT: string;
  TOKEN_BOOLEAN: string;
  TOKEN_NONE: string;
  TOKEN_DATA: string;
  TOKEN_COMMENT: string;
  TOKEN_WHITESPACE: string;
}

type NodeName =
  | 'Node'
  | 'Group'
  | 'Array'
  | 'Dict'
  | 'Pair'
  | 'NodeList'
  | 'KeywordArgs'
  | 'Literal'
  | 'TemplateData'
  | 'InlineIf'
  | 'Symbol'
  | 'FunCall'
  | 'Is'
  | 'Not';

interface Internals {
  parser: { Parser: new (tokens: unknown) => ParserBase };
  compiler: { Compiler: new (name: string, throwOnUndefined: boolean) => CompilerBase };
  lexer: Lexer;
  nodes: Record<NodeName, NodeClass>;
}

const internals = nunjucks as unknown as Internals;

export const ParserClass = internals.parser.Parser;
export const CompilerClass = internals.compiler.Compiler;
export const lexer = internals.lexer;
export const nodes = internals.nodes;

export const transform = (transformer as { transform(ast: Node, asyncFilters: unknown, name: string): Node })
  .transform;
