// The Jinja2 syntax Nunjucks' parser refuses, added to it:
// - a trailing comma in list, tuple, dict literals and call arguments: `['a', 'b',]`, `f(x,)`;
// - tuples: `(a, b)` and `(a,)` are lists (Nunjucks would compile a JavaScript comma expression);
// - `*args` in calls and filter arguments: `'%s-%s' | format(*parts)`;
// - Python's `True`, `False` and `None` besides `true`, `false` and `none`;
// - a test's one argument without parentheses: `x is divisibleby 3`, `x is in [1, 2]`.
// A loop filter (`{% for x in items if x.enabled %}`) is refused with a clear error: Nunjucks
// would read it as an inline `if` over the whole list and silently loop over nothing. A block name
// defined twice in one template is an error, as in Jinja2 (Nunjucks kept the last).
// Everything else is Nunjucks' own parser, so templates written for Nunjucks parse as before.

import { jinja2CommentWhitespace } from './comment-whitespace.js';
import { lexer, type Node, nodes, ParserClass, type Token } from './nunjucks-parts.js';

/** `*expr` in a call: its items are passed as separate arguments. */
export const Splat = nodes.Node.extend('Splat', { fields: ['target'] });

const PYTHON_CONSTANTS: Record<string, unknown> = { True: true, False: false, None: null };

/** Tokens that start the one argument a test takes without parentheses. */
const TEST_ARGUMENT_START = new Set([
  lexer.TOKEN_SYMBOL,
  lexer.TOKEN_STRING,
  lexer.TOKEN_INT,
  lexer.TOKEN_FLOAT,
  lexer.TOKEN_LEFT_BRACKET,
  lexer.TOKEN_LEFT_CURLY,
  lexer.TOKEN_BOOLEAN,
  lexer.TOKEN_NONE,
]);
const NOT_AN_ARGUMENT = new Set(['else', 'or', 'and', 'if', 'in', 'is', 'not']);

const CLOSERS = new Set([lexer.TOKEN_RIGHT_PAREN, lexer.TOKEN_RIGHT_BRACKET, lexer.TOKEN_RIGHT_CURLY]);

export class Jinja2Parser extends ParserClass {
  parseAggregate(): Node | null {
    const tok = this.nextToken()!;
    let node: Node;
    switch (tok.type) {
      case lexer.TOKEN_LEFT_PAREN:
        node = new nodes.Group(tok.lineno, tok.colno);
        break;
      case lexer.TOKEN_LEFT_BRACKET:
        node = new nodes.Array(tok.lineno, tok.colno);
        break;
      case lexer.TOKEN_LEFT_CURLY:
        node = new nodes.Dict(tok.lineno, tok.colno);
        break;
      default:
        return null;
    }
    let sawComma = false;
    for (;;) {
      if (CLOSERS.has(this.peekToken().type)) {
        this.nextToken();
        break;
      }
      if (node.children.length > 0) {
        if (!this.skip(lexer.TOKEN_COMMA))
          this.fail('parseAggregate: expected comma after expression', tok.lineno, tok.colno);
        sawComma = true;
        // Jinja2 allows a comma before the closing bracket.
        if (CLOSERS.has(this.peekToken().type)) {
          this.nextToken();
          break;
        }
      }
      if (tok.type === lexer.TOKEN_LEFT_CURLY) {
        const key = this.parsePrimary();
        if (!this.skip(lexer.TOKEN_COLON))
          this.fail('parseAggregate: expected colon after dict key', tok.lineno, tok.colno);
        const value = this.parseExpression();
        node.addChild(new nodes.Pair(key.lineno, key.colno, key, value));
      } else {
        node.addChild(this.parseExpression());
      }
    }
    // `(a, b)` and `(a,)` are tuples in Jinja2; a list is the closest value.
    if (tok.type === lexer.TOKEN_LEFT_PAREN && sawComma) {
      const tuple = new nodes.Array(node.lineno, node.colno);
      for (const child of node.children) tuple.addChild(child);
      return tuple;
    }
    return node;
  }

  parseSignature(tolerant?: boolean, noParens?: boolean): Node | null {
    let tok = this.peekToken();
    if (!noParens && tok.type !== lexer.TOKEN_LEFT_PAREN) {
      if (tolerant) return null;
      this.fail('expected arguments', tok.lineno, tok.colno);
    }
    if (tok.type === lexer.TOKEN_LEFT_PAREN) tok = this.nextToken()!;
    const args = new nodes.NodeList(tok.lineno, tok.colno);
    const kwargs = new nodes.KeywordArgs(tok.lineno, tok.colno);
    let checkComma = false;
    for (;;) {
      tok = this.peekToken();
      if (!noParens && tok.type === lexer.TOKEN_RIGHT_PAREN) {
        this.nextToken();
        break;
      }
      if (noParens && tok.type === lexer.TOKEN_BLOCK_END) break;
      if (checkComma) {
        if (!this.skip(lexer.TOKEN_COMMA))
          this.fail('parseSignature: expected comma after expression', tok.lineno, tok.colno);
        // A trailing comma before `)`.
        if (!noParens && this.peekToken().type === lexer.TOKEN_RIGHT_PAREN) {
          this.nextToken();
          break;
        }
      }
      const star = this.peekToken();
      if (this.skipValue(lexer.TOKEN_OPERATOR, '*')) {
        args.addChild(new Splat(star.lineno, star.colno, this.parseExpression()));
      } else if (star.type === lexer.TOKEN_OPERATOR && star.value === '**') {
        this.fail(
          '`**kwargs` in a call is not supported; pass the keyword arguments by name',
          star.lineno,
          star.colno,
        );
      } else {
        const arg = this.parseExpression();
        if (this.skipValue(lexer.TOKEN_OPERATOR, '=')) {
          kwargs.addChild(new nodes.Pair(arg.lineno, arg.colno, arg, this.parseExpression()));
        } else {
          args.addChild(arg);
        }
      }
      checkComma = true;
    }
    if (kwargs.children.length) args.addChild(kwargs);
    return args;
  }

  override parsePrimary(noPostfix?: boolean): Node {
    const tok = this.peekToken();
    if (tok.type === lexer.TOKEN_SYMBOL && Object.hasOwn(PYTHON_CONSTANTS, tok.value)) {
      this.nextToken();
      const literal = new nodes.Literal(tok.lineno, tok.colno, PYTHON_CONSTANTS[tok.value]);
      return noPostfix ? literal : (this as unknown as { parsePostfix(n: Node): Node }).parsePostfix(literal);
    }
    return super.parsePrimary(noPostfix);
  }

  /** `x is [not] name`, `name(args)`, or `name arg` (Jinja2's parse_test). */
  parseIs(): Node {
    let node = this.parseCompare();
    const isTok = this.peekToken();
    if (!this.skipSymbol('is')) return node;
    const not = this.skipSymbol('not');
    const nameTok = this.nextToken()!;
    if (![lexer.TOKEN_SYMBOL, lexer.TOKEN_NONE, lexer.TOKEN_BOOLEAN].includes(nameTok.type))
      this.fail('expected the name of a test after "is"', nameTok.lineno, nameTok.colno);
    const name = new nodes.Symbol(nameTok.lineno, nameTok.colno, nameTok.value);
    const next = this.peekToken();
    let right: Node = name;
    if (next.type === lexer.TOKEN_LEFT_PAREN) {
      right = new nodes.FunCall(nameTok.lineno, nameTok.colno, name, this.parseSignature());
    } else if (
      TEST_ARGUMENT_START.has(next.type) &&
      !(next.type === lexer.TOKEN_SYMBOL && NOT_AN_ARGUMENT.has(next.value))
    ) {
      const args = new nodes.NodeList(next.lineno, next.colno);
      args.addChild(this.parsePrimary());
      right = new nodes.FunCall(nameTok.lineno, nameTok.colno, name, args);
    }
    node = new nodes.Is(isTok.lineno, isTok.colno, node, right);
    return not ? new nodes.Not(isTok.lineno, isTok.colno, node) : node;
  }

  /** Block names met so far in this template: Jinja2 refuses a name defined twice. */
  private readonly blockNames = new Set<string>();

  parseBlock(): Node {
    const node = (ParserClass.prototype as unknown as { parseBlock(this: unknown): Node }).parseBlock.call(
      this,
    );
    const name = String((node.name as { value?: unknown } | undefined)?.value ?? '');
    if (this.blockNames.has(name)) this.fail(`block '${name}' defined twice`, node.lineno, node.colno);
    this.blockNames.add(name);
    return node;
  }

  /** `{% set ns.total = … %}` (Jinja2's namespace()): Nunjucks can only set a name. */
  parseSet(): Node {
    const node = (ParserClass.prototype as unknown as { parseSet(this: unknown): Node }).parseSet.call(this);
    for (const target of (node.targets as Node[] | undefined) ?? [])
      if (target.typename !== 'Symbol')
        this.fail(
          '{% set %} of an attribute (a namespace() field) is not supported: set a plain name',
          target.lineno,
          target.colno,
        );
    return node;
  }

  /**
   * `{% raw %}…{% endraw %}`: Nunjucks reads the end tag with a regular expression, so the lexer's
   * trim_blocks never sees it; Jinja2 drops the newline after it as after any block tag.
   */
  parseRaw(tagName?: string): Node {
    const node = (
      ParserClass.prototype as unknown as { parseRaw(this: unknown, t?: string): Node }
    ).parseRaw.call(this, tagName);
    const tokens = this.tokens as { trimBlocks?: boolean; current(): string; forward(): void };
    if (tokens.trimBlocks) {
      if (tokens.current() === '\r') tokens.forward();
      if (tokens.current() === '\n') tokens.forward();
    }
    return node;
  }

  parseFor(): Node {
    const node = (ParserClass.prototype as unknown as { parseFor(this: unknown): Node }).parseFor.call(this);
    const arr = node.arr as Node | undefined;
    if (arr instanceof nodes.InlineIf && arr.else_ === null)
      this.fail(
        'a loop filter (`for x in items if condition`) is not supported: use `{% if %}` inside the loop, or `| select`',
        arr.lineno,
        arr.colno,
      );
    return node;
  }
}

/** Parses a template with the Jinja2 additions. */
export function parseJinja2(src: string, extensions: unknown, opts: unknown): Node {
  const tokens = lexer.lex(src, opts) as Parameters<typeof jinja2CommentWhitespace>[0];
  jinja2CommentWhitespace(tokens, opts as Parameters<typeof jinja2CommentWhitespace>[1]);
  const parser = new Jinja2Parser(tokens);
  if (extensions !== undefined) parser.extensions = extensions;
  return parser.parseAsRoot();
}

export type { Token };
