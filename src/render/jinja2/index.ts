// arbor's Jinja2 layer over Nunjucks: the syntax (parser.ts), the Python semantics of operators
// and values (compiler.ts, python.ts), and Jinja2's built-in filters and tests (builtins.ts).
// See docs/kolla.md ("Jinja2 in arbor templates") for what is covered.

import type nunjucks from 'nunjucks';
import { add, member, modulo, multiply, pyEquals } from '../../python/semantics.js';
import { installJinja2Builtins } from './builtins.js';

export { compileJinja2Source, JINJA2_RUNTIME } from './compiler.js';
export { parseJinja2 } from './parser.js';

/** The helpers compiled templates call through JINJA2_RUNTIME. */
export const jinja2Runtime = Object.freeze({ add, multiply, modulo, member, equals: pyEquals });

/** Adds Jinja2's built-in filters and tests that Nunjucks lacks to an environment. */
export function installJinja2(env: nunjucks.Environment): void {
  installJinja2Builtins(env);
}
