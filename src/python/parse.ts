// A recursive-descent parser for the Python that Kolla's configuration and worker modules are
// written in: every statement form they use (assignments, if/for/while/try/with, def, class,
// import, return, raise) and the whole expression grammar (comprehensions, f-strings, lambdas,
// slices, star-arguments). What it cannot parse is a PythonSyntaxError with a line and column.

import { PythonSyntaxError, type Token, tokenize } from './tokenize.js';

export type Expr =
  | { k: 'name'; id: string }
  | { k: 'const'; value: string | number | boolean | null }
  | { k: 'fstring'; parts: Array<string | { expr: Expr; conversion?: string; spec?: Expr }> }
  | { k: 'list' | 'tuple' | 'set'; elts: Expr[] }
  | { k: 'dict'; entries: Array<{ key: Expr | null; value: Expr }> }
  | { k: 'attr'; value: Expr; attr: string }
  | { k: 'subscript'; value: Expr; index: Expr }
  | { k: 'slice'; lower: Expr | null; upper: Expr | null; step: Expr | null }
  | { k: 'call'; func: Expr; args: Expr[]; keywords: Array<{ name: string | null; value: Expr }> }
  | { k: 'starred'; value: Expr }
  | { k: 'binop'; op: string; left: Expr; right: Expr }
  | { k: 'unary'; op: string; operand: Expr }
  | { k: 'boolop'; op: 'and' | 'or'; values: Expr[] }
  | { k: 'compare'; left: Expr; ops: string[]; comparators: Expr[] }
  | { k: 'ifexp'; test: Expr; body: Expr; orelse: Expr }
  | { k: 'lambda'; params: Param[]; body: Expr }
  | { k: 'comp'; kind: 'list' | 'set' | 'gen' | 'dict'; elt: Expr; value?: Expr; generators: Generator[] };

export interface Generator {
  target: Expr;
  iter: Expr;
  ifs: Expr[];
}

export interface Param {
  name: string;
  kind: 'normal' | 'star' | 'kwstar';
  default?: Expr;
}

export interface Handler {
  type: Expr | null;
  name: string | null;
  body: Stmt[];
}

export type Stmt = { line: number } & (
  | { k: 'expr'; value: Expr }
  | { k: 'assign'; targets: Expr[]; value: Expr }
  | { k: 'augassign'; target: Expr; op: string; value: Expr }
  | { k: 'if'; test: Expr; body: Stmt[]; orelse: Stmt[] }
  | { k: 'for'; target: Expr; iter: Expr; body: Stmt[]; orelse: Stmt[] }
  | { k: 'while'; test: Expr; body: Stmt[]; orelse: Stmt[] }
  | { k: 'def'; name: string; params: Param[]; body: Stmt[]; decorators?: Expr[] }
  | { k: 'class'; name: string; bases: Expr[]; body: Stmt[]; decorators?: Expr[] }
  | { k: 'return'; value: Expr | null }
  | { k: 'raise'; exc: Expr | null }
  | { k: 'yield'; value: Expr | null; from: boolean }
  | { k: 'try'; body: Stmt[]; handlers: Handler[]; orelse: Stmt[]; finalbody: Stmt[] }
  | { k: 'with'; items: Array<{ expr: Expr; target: Expr | null }>; body: Stmt[] }
  | { k: 'import'; names: Array<{ module: string; asname: string | null }> }
  | { k: 'from'; module: string; names: Array<{ name: string; asname: string | null }> }
  | { k: 'pass' | 'break' | 'continue' }
  | { k: 'del'; targets: Expr[] }
  | { k: 'global'; names: string[] }
);

const COMPARE_OPS = new Set(['<', '>', '==', '>=', '<=', '!=']);
const AUGMENTED = new Set(['+=', '-=', '*=', '/=', '//=', '%=', '**=', '&=', '|=', '^=', '>>=', '<<=', '@=']);

class Parser {
  private pos = 0;
  constructor(private readonly tokens: Token[]) {}

  private get tok(): Token {
    return this.tokens[this.pos]!;
  }
  /** A method, not a getter comparison, so TypeScript does not narrow the token type across next(). */
  private atType(type: Token['type']): boolean {
    return this.tok.type === type;
  }
  private peek(offset = 1): Token {
    return this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)]!;
  }
  private next(): Token {
    const t = this.tok;
    if (t.type !== 'end') this.pos++;
    return t;
  }
  private isOp(value: string): boolean {
    return this.tok.type === 'op' && this.tok.value === value;
  }
  private isName(value: string): boolean {
    return this.tok.type === 'name' && this.tok.value === value;
  }
  private acceptOp(value: string): boolean {
    if (!this.isOp(value)) return false;
    this.next();
    return true;
  }
  private acceptName(value: string): boolean {
    if (!this.isName(value)) return false;
    this.next();
    return true;
  }
  private fail(message: string, at: Token = this.tok): never {
    throw new PythonSyntaxError(message, at.line, at.col);
  }
  private expectOp(value: string): void {
    if (!this.acceptOp(value)) this.fail(`expected "${value}", found ${describe(this.tok)}`);
  }
  private expectName(value?: string): string {
    const t = this.tok;
    if (t.type !== 'name' || (value !== undefined && t.value !== value))
      this.fail(`expected ${value ?? 'a name'}, found ${describe(t)}`);
    this.next();
    return t.value;
  }
  private expectNewline(): void {
    if (this.tok.type === 'newline') this.next();
    else if (this.tok.type !== 'end' && this.tok.type !== 'dedent')
      this.fail(`expected end of line, found ${describe(this.tok)}`);
  }

  module(): Stmt[] {
    const body: Stmt[] = [];
    while (this.tok.type !== 'end') {
      if (this.tok.type === 'newline') {
        this.next();
        continue;
      }
      body.push(...this.statement());
    }
    return body;
  }

  private block(): Stmt[] {
    this.expectOp(':');
    if (this.tok.type !== 'newline') return this.simpleStatements();
    this.next();
    if (!this.atType('indent')) this.fail('expected an indented block');
    this.next();
    const body: Stmt[] = [];
    while (!this.atType('dedent') && !this.atType('end')) {
      if (this.tok.type === 'newline') {
        this.next();
        continue;
      }
      body.push(...this.statement());
    }
    if (this.atType('dedent')) this.next();
    return body;
  }

  private statement(): Stmt[] {
    const t = this.tok;
    const line = t.line;
    if (t.type === 'op' && t.value === '@') {
      const decorators: Expr[] = [];
      while (this.acceptOp('@')) {
        decorators.push(this.expression());
        this.expectNewline();
      }
      const [decorated] = this.statement();
      if (decorated?.k !== 'def' && decorated?.k !== 'class')
        this.fail('a decorator must be followed by def or class', t);
      return [{ ...decorated, decorators }];
    }
    if (t.type === 'name') {
      switch (t.value) {
        case 'if':
          return [this.ifStatement()];
        case 'for': {
          this.next();
          const target = this.targetList();
          this.expectName('in');
          const iter = this.testList();
          const body = this.block();
          const orelse = this.acceptName('else') ? this.block() : [];
          return [{ k: 'for', line, target, iter, body, orelse }];
        }
        case 'while': {
          this.next();
          const test = this.test();
          const body = this.block();
          const orelse = this.acceptName('else') ? this.block() : [];
          return [{ k: 'while', line, test, body, orelse }];
        }
        case 'def':
          return [this.def()];
        case 'class': {
          this.next();
          const name = this.expectName();
          let bases: Expr[] = [];
          if (this.acceptOp('(')) {
            const call = this.callArguments();
            bases = call.args;
          }
          return [{ k: 'class', line, name, bases, body: this.block() }];
        }
        case 'try':
          return [this.tryStatement()];
        case 'with': {
          this.next();
          const items: Array<{ expr: Expr; target: Expr | null }> = [];
          do {
            const expr = this.test();
            const target = this.acceptName('as') ? this.atomExpr() : null;
            items.push({ expr, target });
          } while (this.acceptOp(','));
          return [{ k: 'with', line, items, body: this.block() }];
        }
        case 'async':
          this.next();
          return this.statement();
      }
    }
    return this.simpleStatements();
  }

  private ifStatement(): Stmt {
    const line = this.tok.line;
    this.next(); // if / elif
    const test = this.test();
    const body = this.block();
    let orelse: Stmt[] = [];
    if (this.isName('elif')) orelse = [this.ifStatement()];
    else if (this.acceptName('else')) orelse = this.block();
    return { k: 'if', line, test, body, orelse };
  }

  private tryStatement(): Stmt {
    const line = this.tok.line;
    this.next();
    const body = this.block();
    const handlers: Handler[] = [];
    while (this.acceptName('except')) {
      let type: Expr | null = null;
      let name: string | null = null;
      if (!this.isOp(':')) {
        this.acceptOp('*');
        type = this.test();
        if (this.acceptName('as')) name = this.expectName();
        else if (this.acceptOp(',')) name = this.expectName();
      }
      handlers.push({ type, name, body: this.block() });
    }
    const orelse = this.acceptName('else') ? this.block() : [];
    const finalbody = this.acceptName('finally') ? this.block() : [];
    return { k: 'try', line, body, handlers, orelse, finalbody };
  }

  private def(): Stmt {
    const line = this.tok.line;
    this.next();
    const name = this.expectName();
    this.expectOp('(');
    const params = this.parameters(')');
    this.expectOp(')');
    if (this.acceptOp('->')) this.test();
    return { k: 'def', line, name, params, body: this.block() };
  }

  private parameters(closer: string): Param[] {
    const params: Param[] = [];
    while (!this.isOp(closer)) {
      if (this.acceptOp('/')) {
        // positional-only marker
      } else if (this.acceptOp('**')) {
        params.push({ name: this.expectName(), kind: 'kwstar' });
        if (closer === ')' && this.acceptOp(':')) this.test();
      } else if (this.acceptOp('*')) {
        if (this.tok.type === 'name') {
          params.push({ name: this.expectName(), kind: 'star' });
          if (closer === ')' && this.acceptOp(':')) this.test();
        } else params.push({ name: '', kind: 'star' });
      } else {
        const name = this.expectName();
        if (closer === ')' && this.acceptOp(':')) this.test();
        const param: Param = { name, kind: 'normal' };
        if (this.acceptOp('=')) param.default = this.test();
        params.push(param);
      }
      if (!this.acceptOp(',')) break;
    }
    return params;
  }

  private simpleStatements(): Stmt[] {
    const stmts: Stmt[] = [this.smallStatement()];
    while (this.acceptOp(';')) {
      if (this.tok.type === 'newline') break;
      stmts.push(this.smallStatement());
    }
    this.expectNewline();
    return stmts;
  }

  private smallStatement(): Stmt {
    const t = this.tok;
    const line = t.line;
    if (t.type === 'name') {
      switch (t.value) {
        case 'pass':
        case 'break':
        case 'continue':
          this.next();
          return { k: t.value, line };
        case 'return':
          this.next();
          return { k: 'return', line, value: this.atStatementEnd() ? null : this.testList() };
        case 'yield': {
          this.next();
          const from = this.acceptName('from');
          return { k: 'yield', line, value: this.atStatementEnd() ? null : this.testList(), from };
        }
        case 'raise': {
          this.next();
          const exc = this.atStatementEnd() ? null : this.test();
          if (this.acceptName('from')) this.test();
          return { k: 'raise', line, exc };
        }
        case 'global':
        case 'nonlocal': {
          this.next();
          const names = [this.expectName()];
          while (this.acceptOp(',')) names.push(this.expectName());
          return { k: 'global', line, names };
        }
        case 'del': {
          this.next();
          const targets = [this.expression()];
          while (this.acceptOp(',')) targets.push(this.expression());
          return { k: 'del', line, targets };
        }
        case 'assert':
          this.next();
          this.test();
          if (this.acceptOp(',')) this.test();
          return { k: 'pass', line };
        case 'import': {
          this.next();
          const names: Array<{ module: string; asname: string | null }> = [];
          do {
            const module = this.dottedName();
            names.push({ module, asname: this.acceptName('as') ? this.expectName() : null });
          } while (this.acceptOp(','));
          return { k: 'import', line, names };
        }
        case 'from': {
          this.next();
          let module = '';
          while (this.isOp('.') || this.isOp('...')) module += this.next().value;
          if (!this.isName('import')) module += this.dottedName();
          this.expectName('import');
          const paren = this.acceptOp('(');
          const names: Array<{ name: string; asname: string | null }> = [];
          if (this.acceptOp('*')) names.push({ name: '*', asname: null });
          else
            do {
              if (paren && this.isOp(')')) break;
              const name = this.expectName();
              names.push({ name, asname: this.acceptName('as') ? this.expectName() : null });
            } while (this.acceptOp(','));
          if (paren) this.expectOp(')');
          return { k: 'from', line, module, names };
        }
      }
    }
    const first = this.testListStar();
    if (this.tok.type === 'op' && AUGMENTED.has(this.tok.value)) {
      const op = this.next().value.slice(0, -1);
      return { k: 'augassign', line, target: first, op, value: this.testList() };
    }
    if (this.acceptOp(':')) {
      // annotated assignment
      this.test();
      if (this.acceptOp('=')) return { k: 'assign', line, targets: [first], value: this.testList() };
      return { k: 'pass', line };
    }
    if (this.isOp('=')) {
      const targets = [first];
      let value = first;
      while (this.acceptOp('=')) {
        value = this.testListStar();
        targets.push(value);
      }
      targets.pop();
      return { k: 'assign', line, targets, value };
    }
    return { k: 'expr', line, value: first };
  }

  private atStatementEnd(): boolean {
    return this.tok.type === 'newline' || this.tok.type === 'end' || this.isOp(';');
  }

  private dottedName(): string {
    let name = this.expectName();
    while (this.acceptOp('.')) name += `.${this.expectName()}`;
    return name;
  }

  // ---- expressions

  private targetList(): Expr {
    const first = this.starOr(() => this.expression());
    if (!this.isOp(',')) return first;
    const elts = [first];
    while (this.acceptOp(',')) {
      if (this.isName('in') || this.isOp('=')) break;
      elts.push(this.starOr(() => this.expression()));
    }
    return { k: 'tuple', elts };
  }

  private starOr(parse: () => Expr): Expr {
    if (this.acceptOp('*')) return { k: 'starred', value: this.expression() };
    return parse();
  }

  /** Tuple of tests without parentheses: `a, b` (for return, for … in, subscripts). */
  private testList(): Expr {
    const first = this.starOr(() => this.test());
    if (!this.isOp(',')) return first;
    const elts = [first];
    while (this.acceptOp(',')) {
      if (this.atStatementEnd() || this.isOp('=') || this.isOp(':') || this.isOp(')') || this.isOp(']'))
        break;
      elts.push(this.starOr(() => this.test()));
    }
    return { k: 'tuple', elts };
  }

  private testListStar(): Expr {
    return this.testList();
  }

  private test(): Expr {
    if (this.isName('lambda')) {
      this.next();
      const params = this.parameters(':');
      this.expectOp(':');
      return { k: 'lambda', params, body: this.test() };
    }
    const body = this.orTest();
    if (this.acceptName('if')) {
      const test = this.orTest();
      this.expectName('else');
      return { k: 'ifexp', test, body, orelse: this.test() };
    }
    if (this.acceptOp(':=')) return this.test();
    return body;
  }

  private orTest(): Expr {
    const values = [this.andTest()];
    while (this.acceptName('or')) values.push(this.andTest());
    return values.length === 1 ? values[0]! : { k: 'boolop', op: 'or', values };
  }

  private andTest(): Expr {
    const values = [this.notTest()];
    while (this.acceptName('and')) values.push(this.notTest());
    return values.length === 1 ? values[0]! : { k: 'boolop', op: 'and', values };
  }

  private notTest(): Expr {
    if (this.acceptName('not')) return { k: 'unary', op: 'not', operand: this.notTest() };
    return this.comparison();
  }

  private comparison(): Expr {
    const left = this.expression();
    const ops: string[] = [];
    const comparators: Expr[] = [];
    for (;;) {
      let op: string | undefined;
      if (this.tok.type === 'op' && COMPARE_OPS.has(this.tok.value)) op = this.next().value;
      else if (this.acceptName('in')) op = 'in';
      else if (this.isName('not') && this.peek().type === 'name' && this.peek().value === 'in') {
        this.next();
        this.next();
        op = 'not in';
      } else if (this.acceptName('is')) op = this.acceptName('not') ? 'is not' : 'is';
      if (op === undefined) break;
      ops.push(op);
      comparators.push(this.expression());
    }
    return ops.length === 0 ? left : { k: 'compare', left, ops, comparators };
  }

  private binaryLevel(ops: string[], next: () => Expr): Expr {
    let left = next();
    while (this.tok.type === 'op' && ops.includes(this.tok.value)) {
      const op = this.next().value;
      left = { k: 'binop', op, left, right: next() };
    }
    return left;
  }

  private expression(): Expr {
    return this.binaryLevel(['|'], () =>
      this.binaryLevel(['^'], () =>
        this.binaryLevel(['&'], () =>
          this.binaryLevel(['<<', '>>'], () => this.binaryLevel(['+', '-'], () => this.term())),
        ),
      ),
    );
  }

  private term(): Expr {
    return this.binaryLevel(['*', '/', '//', '%', '@'], () => this.factor());
  }

  private factor(): Expr {
    if (this.tok.type === 'op' && ['+', '-', '~'].includes(this.tok.value)) {
      const op = this.next().value;
      return { k: 'unary', op, operand: this.factor() };
    }
    return this.power();
  }

  private power(): Expr {
    this.acceptName('await');
    const base = this.atomExpr();
    if (this.acceptOp('**')) return { k: 'binop', op: '**', left: base, right: this.factor() };
    return base;
  }

  private atomExpr(): Expr {
    let value = this.atom();
    for (;;) {
      if (this.acceptOp('(')) {
        const call = this.callArguments();
        value = { k: 'call', func: value, args: call.args, keywords: call.keywords };
      } else if (this.acceptOp('[')) {
        value = { k: 'subscript', value, index: this.subscriptList() };
        this.expectOp(']');
      } else if (this.isOp('.')) {
        this.next();
        value = { k: 'attr', value, attr: this.expectName() };
      } else return value;
    }
  }

  private callArguments(): { args: Expr[]; keywords: Array<{ name: string | null; value: Expr }> } {
    const args: Expr[] = [];
    const keywords: Array<{ name: string | null; value: Expr }> = [];
    while (!this.isOp(')')) {
      if (this.acceptOp('**')) keywords.push({ name: null, value: this.test() });
      else if (this.acceptOp('*')) args.push({ k: 'starred', value: this.test() });
      else if (this.tok.type === 'name' && this.peek().type === 'op' && this.peek().value === '=') {
        const name = this.next().value;
        this.next();
        keywords.push({ name, value: this.test() });
      } else {
        const arg = this.test();
        if (this.isName('for')) args.push(this.comprehension('gen', arg));
        else args.push(arg);
      }
      if (!this.acceptOp(',')) break;
    }
    this.expectOp(')');
    return { args, keywords };
  }

  private subscriptList(): Expr {
    const first = this.subscript();
    if (!this.isOp(',')) return first;
    const elts = [first];
    while (this.acceptOp(',')) {
      if (this.isOp(']')) break;
      elts.push(this.subscript());
    }
    return { k: 'tuple', elts };
  }

  private subscript(): Expr {
    let lower: Expr | null = null;
    if (!this.isOp(':')) {
      lower = this.test();
      if (!this.isOp(':')) return lower;
    }
    this.expectOp(':');
    const upper = this.isOp(']') || this.isOp(':') || this.isOp(',') ? null : this.test();
    let step: Expr | null = null;
    if (this.acceptOp(':')) step = this.isOp(']') || this.isOp(',') ? null : this.test();
    return { k: 'slice', lower, upper, step };
  }

  private comprehension(kind: 'list' | 'set' | 'gen' | 'dict', elt: Expr, value?: Expr): Expr {
    const generators: Generator[] = [];
    while (this.acceptName('for')) {
      const target = this.targetList();
      this.expectName('in');
      const iter = this.orTest();
      const ifs: Expr[] = [];
      while (this.acceptName('if')) ifs.push(this.orTestNoCond());
      generators.push({ target, iter, ifs });
    }
    return { k: 'comp', kind, elt, ...(value ? { value } : {}), generators };
  }

  private orTestNoCond(): Expr {
    return this.orTest();
  }

  private atom(): Expr {
    const t = this.tok;
    switch (t.type) {
      case 'name':
        this.next();
        if (t.value === 'None') return { k: 'const', value: null };
        if (t.value === 'True') return { k: 'const', value: true };
        if (t.value === 'False') return { k: 'const', value: false };
        return { k: 'name', id: t.value };
      case 'number':
        this.next();
        return { k: 'const', value: parseNumber(t.value) };
      case 'string':
        return this.strings();
      case 'op':
        break;
      default:
        this.fail(`unexpected ${describe(t)}`);
    }
    if (this.acceptOp('...')) return { k: 'const', value: null };
    if (this.acceptOp('(')) {
      if (this.acceptOp(')')) return { k: 'tuple', elts: [] };
      if (this.isName('yield')) this.fail('yield is not supported');
      const first = this.starOr(() => this.test());
      if (this.isName('for')) {
        const comp = this.comprehension('gen', first);
        this.expectOp(')');
        return comp;
      }
      if (!this.isOp(',')) {
        this.expectOp(')');
        return first;
      }
      const elts = [first];
      while (this.acceptOp(',')) {
        if (this.isOp(')')) break;
        elts.push(this.starOr(() => this.test()));
      }
      this.expectOp(')');
      return { k: 'tuple', elts };
    }
    if (this.acceptOp('[')) {
      const elts: Expr[] = [];
      while (!this.isOp(']')) {
        const elt = this.starOr(() => this.test());
        if (this.isName('for') && elts.length === 0) {
          const comp = this.comprehension('list', elt);
          this.expectOp(']');
          return comp;
        }
        elts.push(elt);
        if (!this.acceptOp(',')) break;
      }
      this.expectOp(']');
      return { k: 'list', elts };
    }
    if (this.acceptOp('{')) {
      if (this.acceptOp('}')) return { k: 'dict', entries: [] };
      const entries: Array<{ key: Expr | null; value: Expr }> = [];
      const elts: Expr[] = [];
      let isDict: boolean | undefined;
      while (!this.isOp('}')) {
        if (this.acceptOp('**')) {
          isDict = true;
          entries.push({ key: null, value: this.expression() });
        } else {
          const first = this.starOr(() => this.test());
          if (this.acceptOp(':')) {
            isDict = true;
            const value = this.test();
            if (this.isName('for') && entries.length === 0) {
              const comp = this.comprehension('dict', first, value);
              this.expectOp('}');
              return comp;
            }
            entries.push({ key: first, value });
          } else {
            isDict = false;
            if (this.isName('for') && elts.length === 0) {
              const comp = this.comprehension('set', first);
              this.expectOp('}');
              return comp;
            }
            elts.push(first);
          }
        }
        if (!this.acceptOp(',')) break;
      }
      this.expectOp('}');
      return isDict ? { k: 'dict', entries } : { k: 'set', elts };
    }
    return this.fail(`unexpected ${describe(t)}`);
  }

  /** Adjacent string literals are one string; an f-string among them makes the whole an f-string. */
  private strings(): Expr {
    const parts: Array<string | { expr: Expr; conversion?: string; spec?: Expr }> = [];
    let formatted = false;
    while (this.tok.type === 'string') {
      const t = this.next();
      if (t.prefix?.includes('f')) {
        formatted = true;
        parts.push(...parseFString(t));
      } else parts.push(t.value);
    }
    if (!formatted) return { k: 'const', value: parts.join('') };
    return { k: 'fstring', parts };
  }
}

function parseNumber(text: string): number {
  const clean = text.replaceAll('_', '').replace(/[jJ]$/, '');
  if (/^0[xX]/.test(clean)) return Number.parseInt(clean.slice(2), 16);
  if (/^0[oO]/.test(clean)) return Number.parseInt(clean.slice(2), 8);
  if (/^0[bB]/.test(clean)) return Number.parseInt(clean.slice(2), 2);
  return Number(clean);
}

/** The literal text and `{expression!conversion:spec}` fields of an f-string. */
function parseFString(t: Token): Array<string | { expr: Expr; conversion?: string; spec?: Expr }> {
  const s = t.value;
  const parts: Array<string | { expr: Expr; conversion?: string; spec?: Expr }> = [];
  let text = '';
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === '{' && s[i + 1] === '{') {
      text += '{';
      i += 2;
      continue;
    }
    if (c === '}' && s[i + 1] === '}') {
      text += '}';
      i += 2;
      continue;
    }
    if (c !== '{') {
      text += c;
      i++;
      continue;
    }
    if (text) parts.push(text);
    text = '';
    // Find the end of the field, minding nested brackets and strings.
    let depth = 0;
    let j = i + 1;
    let quote: string | null = null;
    let exprEnd = -1;
    let conversion: string | undefined;
    for (; j < s.length; j++) {
      const d = s[j]!;
      if (quote) {
        if (d === quote) quote = null;
        continue;
      }
      if (d === "'" || d === '"') quote = d;
      else if (d === '(' || d === '[' || d === '{') depth++;
      else if ((d === ')' || d === ']' || d === '}') && depth > 0) depth--;
      else if (depth === 0 && (d === '}' || d === ':' || (d === '!' && s[j + 1] !== '='))) {
        if (exprEnd < 0) exprEnd = j;
        if (d === '!') {
          conversion = s[j + 1];
          j++;
          continue;
        }
        break;
      }
    }
    if (exprEnd < 0) throw new PythonSyntaxError('f-string: expecting "}"', t.line, t.col);
    const exprSource = s.slice(i + 1, exprEnd).replace(/=\s*$/, '');
    const expr = parseExpression(exprSource, t);
    let spec: Expr | undefined;
    if (s[j] === ':') {
      // The spec may itself hold {fields}; find the closing brace at depth 0.
      let k = j + 1;
      let nested = 0;
      for (; k < s.length; k++) {
        if (s[k] === '{') nested++;
        else if (s[k] === '}') {
          if (nested === 0) break;
          nested--;
        }
      }
      spec = { k: 'fstring', parts: parseFString({ ...t, value: s.slice(j + 1, k) }) } as Expr;
      j = k;
    }
    parts.push({ expr, ...(conversion ? { conversion } : {}), ...(spec ? { spec } : {}) });
    i = j + 1;
  }
  if (text) parts.push(text);
  return parts;
}

function parseExpression(source: string, at: Token): Expr {
  try {
    const parser = new Parser(tokenize(`(${source})`));
    return (parser as unknown as { test(): Expr }).test();
  } catch (err) {
    if (err instanceof PythonSyntaxError)
      throw new PythonSyntaxError(`f-string: ${err.message}`, at.line, at.col);
    throw err;
  }
}

function describe(t: Token): string {
  if (t.type === 'end') return 'end of file';
  if (t.type === 'newline') return 'end of line';
  if (t.type === 'indent' || t.type === 'dedent') return 'a change of indentation';
  return JSON.stringify(t.value);
}

/** Parses a Python module. Throws PythonSyntaxError with the line and column of the problem. */
export function parseModule(source: string): Stmt[] {
  return new Parser(tokenize(source)).module();
}
