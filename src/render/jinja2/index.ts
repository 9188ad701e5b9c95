// arbor's Jinja2 layer over Nunjucks: the syntax (parser.ts), the Python semantics of operators
// and values (compiler.ts, python.ts), and Jinja2's built-in filters and tests (builtins.ts).
// See docs/kolla.md ("Jinja2 in arbor templates") for what is covered.

import type nunjucks from 'nunjucks';
import { add, isMapping, member, modulo, multiply, pyEquals, pyStr } from '../../python/semantics.js';
import { installJinja2Builtins } from './builtins.js';

export { compileJinja2Source, JINJA2_RUNTIME } from './compiler.js';
export { parseJinja2 } from './parser.js';

/** The helpers compiled templates call through JINJA2_RUNTIME. */
export const jinja2Runtime = Object.freeze({ add, multiply, modulo, member, equals: pyEquals, output });

/**
 * What `{{ value }}` prints: with `pythonValues`, True, False, None, [1, 3] and {'a': 1} as
 * Python's str() gives them (kolla-build's Jinja2); else the value as it is (Nunjucks: true, 1,3).
 * Text (a macro's output, `| safe`) and numbers pass unchanged; an undefined value stays
 * undefined (an empty string, as Jinja2's Undefined).
 */
function output(opts: { pythonValues?: boolean }, value: unknown): unknown {
  if (!opts.pythonValues || value === undefined || typeof value === 'string' || typeof value === 'number')
    return value;
  if (value === null || typeof value === 'boolean' || Array.isArray(value) || isMapping(value))
    return pyStr(value);
  return value;
}

/** Adds Jinja2's built-in filters and tests that Nunjucks lacks to an environment. */
export function installJinja2(env: nunjucks.Environment): void {
  installJinja2Builtins(env);
}
