// Compiles templates with Jinja2's semantics where Nunjucks emits bare JavaScript operators:
//   a + b        lists are joined                       (JavaScript: "a,b" string)
//   a * n        lists and strings are repeated         (JavaScript: NaN)
//   s % args     printf-style formatting of a string    (JavaScript: NaN)
//   a == b       lists and mappings compare by content  (JavaScript: identity)
//   x.name       Python's str/list/dict methods when the value has no such member
//   f(*args)     the items of `args` are separate arguments
// The compiled code reaches the helpers through one free variable, JINJA2_RUNTIME, which the
// template loader binds when it turns the code into functions (see template-loader.ts). Numbers
// still add, multiply and compare as before, so Nunjucks-style templates render the same.
//
// Also handled here, from the environment options:
//   keepTrailingNewline: false   Jinja2's default: the one newline ending a template source is
//                                dropped, and \r\n / \r become \n (Jinja2's lexer does both).

import type nunjucks from 'nunjucks';
import { CompilerClass, type Node, nodes, transform } from './nunjucks-parts.js';
import { parseJinja2 } from './parser.js';

/** The name the compiled code uses for the helpers of python.ts (bound by the template loader). */
export const JINJA2_RUNTIME = '__jinja2';

const EQUALITY = new Set(['==', '!=', '===', '!==']);

class Jinja2Compiler extends CompilerClass {
  private binaryHelper(helper: string, node: Node, frame: unknown): void {
    this._emit(`${JINJA2_RUNTIME}.${helper}(`);
    this.compile(node.left as Node, frame);
    this._emit(', ');
    this.compile(node.right as Node, frame);
    this._emit(')');
  }

  /**
   * `{{ value }}`: Nunjucks' output, with the value first through the runtime's `output`, which
   * prints it as Python does when the environment has `pythonValues` (template_options).
   */
  compileOutput(node: Node, frame: unknown): void {
    for (const child of node.children as Node[]) {
      if (child instanceof nodes.TemplateData) {
        if (child.value) {
          this._emit(`${this.buffer} += `);
          this.compileLiteral(child, frame);
          this._emitLine(';');
        }
        continue;
      }
      this._emit(`${this.buffer} += runtime.suppressValue(${JINJA2_RUNTIME}.output(env.opts, `);
      if (this.throwOnUndefined) this._emit('runtime.ensureDefined(');
      this.compile(child, frame);
      if (this.throwOnUndefined) this._emit(`,${node.lineno},${node.colno})`);
      this._emit('), env.opts.autoescape);\n');
    }
  }

  compileAdd(node: Node, frame: unknown): void {
    this.binaryHelper('add', node, frame);
  }

  compileMul(node: Node, frame: unknown): void {
    this.binaryHelper('multiply', node, frame);
  }

  compileMod(node: Node, frame: unknown): void {
    this.binaryHelper('modulo', node, frame);
  }

  compileLookupVal(node: Node, frame: unknown): void {
    this._emit(`${JINJA2_RUNTIME}.member((`);
    this._compileExpression(node.target as Node, frame);
    this._emit('),');
    this._compileExpression(node.val as Node, frame);
    this._emit(')');
  }

  /** `a == b != c` as Python chains it: `a == b and b != c`, each with Python's equality. */
  compileCompare(node: Node, frame: unknown): void {
    const ops = node.ops as Node[];
    this._emit('(');
    let left = node.expr as Node;
    ops.forEach((op, i) => {
      if (i > 0) this._emit(' && ');
      const type = op.type as string;
      if (EQUALITY.has(type)) {
        this._emit(type.startsWith('!') ? '!' : '');
        this._emit(`${JINJA2_RUNTIME}.equals(`);
        this.compile(left, frame);
        this._emit(', ');
        this.compile(op.expr as Node, frame);
        this._emit(')');
      } else {
        this._emit('(');
        this.compile(left, frame);
        this._emit(` ${type} `);
        this.compile(op.expr as Node, frame);
        this._emit(')');
      }
      left = op.expr as Node;
    });
    this._emit(')');
  }

  /**
   * `{% from x import a %}` / `{% import x as m %}`: Nunjucks binds the name to a JavaScript
   * variable declared inside the callback that loads the template, so after an enclosing
   * `{% if %}` the name is out of scope ("t_24 is not defined"). Jinja2 binds a template
   * variable; so does this: the runtime frame or context it sets is where later lookups go.
   */
  override compileFromImport(node: Node, frame: unknown): void {
    super.compileFromImport(node, frame);
    const names = (node.names as Node).children.map(
      (n) => ((n.value as Node | undefined)?.value ?? n.value) as string,
    );
    forgetCompileTimeNames(frame, names);
  }

  override compileImport(node: Node, frame: unknown): void {
    super.compileImport(node, frame);
    forgetCompileTimeNames(frame, [(node.target as Node).value as string]);
  }

  compileSplat(node: Node, frame: unknown): void {
    this._emit('...(');
    this._compileExpression(node.target as Node, frame);
    this._emit(')');
  }
}

/** Drops names from the compiler's frame, so they are looked up at run time. */
function forgetCompileTimeNames(frame: unknown, names: string[]): void {
  const variables = (frame as { variables?: Record<string, unknown> }).variables;
  if (variables) for (const name of names) delete variables[name];
}

interface EnvironmentInternals {
  asyncFilters: unknown;
  extensionsList: Array<{ preprocess?: (src: string) => string }>;
  opts: { throwOnUndefined?: boolean; keepTrailingNewline?: boolean };
}

/** Jinja2's source handling: newlines normalized, the final one dropped unless kept. */
export function jinja2Source(src: string, keepTrailingNewline: boolean): string {
  if (keepTrailingNewline) return src;
  return src.replace(/\r\n?/g, '\n').replace(/\n$/, '');
}

/**
 * The JavaScript source of a compiled template, as Nunjucks' own compile would produce it, with
 * the Jinja2 syntax and semantics above. The code refers to JINJA2_RUNTIME.
 */
export function compileJinja2Source(env: nunjucks.Environment, src: string, name: string): string {
  const e = env as unknown as EnvironmentInternals;
  const compiler = new Jinja2Compiler(name, e.opts.throwOnUndefined === true);
  const preprocessed = (e.extensionsList ?? [])
    .map((ext) => ext.preprocess)
    .filter((f): f is (s: string) => string => typeof f === 'function')
    .reduce((s, processor) => processor(s), jinja2Source(src, e.opts.keepTrailingNewline !== false));
  compiler.compile(
    transform(parseJinja2(preprocessed, e.extensionsList, e.opts), e.asyncFilters, name),
    undefined,
  );
  return compiler.getCode();
}
