// Jinja2's built-in filters and tests that Nunjucks lacks, so templates written for Jinja2 run
// unchanged: filters format, map, unique, min, max, items, tojson, count, attr; tests sequence,
// none, boolean, true, false, integer, float, in and the operator names (==, >, …); selectattr and
// rejectattr with a test; join of a string. Nunjucks' other filters and tests stay as they are.

import type nunjucks from 'nunjucks';
import { isMapping, member, percentFormat, pyEquals } from '../../python/semantics.js';

type Filter = (this: unknown, ...args: never[]) => unknown;

interface Keywords {
  __keywords?: true;
  [name: string]: unknown;
}

function splitKeywords(args: unknown[]): [unknown[], Keywords] {
  const last = args[args.length - 1] as Keywords | undefined;
  if (last !== null && typeof last === 'object' && last.__keywords === true) return [args.slice(0, -1), last];
  return [args, {}];
}

/** `attribute='a.b'` or `attribute=0`: Jinja2's dotted attribute lookup. */
function attributeOf(value: unknown, attribute: unknown): unknown {
  if (typeof attribute === 'number') return member(value, attribute);
  return String(attribute)
    .split('.')
    .reduce<unknown>((v, part) => member(v, /^\d+$/.test(part) ? Number(part) : part), value);
}

function iterate(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (typeof value === 'string') return [...value];
  if (isMapping(value)) return Object.keys(value);
  if (value !== null && typeof value === 'object' && Symbol.iterator in value)
    return [...(value as Iterable<unknown>)];
  throw new Error(`${String(value)} is not iterable`);
}

function keyFor(attribute: unknown, caseSensitive: unknown): (v: unknown) => unknown {
  return (v) => {
    const x = attribute === undefined || attribute === null ? v : attributeOf(v, attribute);
    return typeof x === 'string' && caseSensitive !== true ? x.toLowerCase() : x;
  };
}

function extreme(values: unknown, args: unknown[], pick: (a: unknown, b: unknown) => boolean): unknown {
  const [positional, kw] = splitKeywords(args);
  const caseSensitive = kw.case_sensitive ?? positional[0];
  const key = keyFor(kw.attribute ?? positional[1], caseSensitive);
  const items = iterate(values);
  if (items.length === 0) return undefined;
  return items.reduce((best, v) => (pick(key(v), key(best)) ? v : best));
}

export function installJinja2Builtins(env: nunjucks.Environment): void {
  const filters: Record<string, Filter> = {
    /** `'%s-%s' | format(a, b)` — Python's `%` formatting. */
    format(value: unknown, ...args: unknown[]) {
      const [positional, kw] = splitKeywords(args);
      const { __keywords: _, ...named } = kw;
      return percentFormat(String(value), Object.keys(named).length > 0 ? [named] : positional);
    },
    /** `map('upper')` applies a filter to every item; `map(attribute='name', default=x)` picks one. */
    map(this: unknown, values: unknown, ...args: unknown[]) {
      const [positional, kw] = splitKeywords(args);
      const items = iterate(values);
      if (kw.attribute !== undefined)
        return items.map((v) => {
          const x = attributeOf(v, kw.attribute);
          return x === undefined && 'default' in kw ? kw.default : x;
        });
      const [name, ...rest] = positional;
      if (typeof name !== 'string') throw new Error('map: give a filter name or attribute=');
      const filter = env.getFilter(name) as (...a: unknown[]) => unknown;
      return items.map((v) => filter.call(this, v, ...rest));
    },
    unique(values: unknown, ...args: unknown[]) {
      const [positional, kw] = splitKeywords(args);
      const key = keyFor(kw.attribute ?? positional[1], kw.case_sensitive ?? positional[0]);
      const seen: unknown[] = [];
      const out: unknown[] = [];
      for (const v of iterate(values)) {
        const k = key(v);
        if (!seen.some((s) => pyEquals(s, k))) {
          seen.push(k);
          out.push(v);
        }
      }
      return out;
    },
    min(values: unknown, ...args: unknown[]) {
      return extreme(values, args, (a, b) => (a as number) < (b as number));
    },
    max(values: unknown, ...args: unknown[]) {
      return extreme(values, args, (a, b) => (a as number) > (b as number));
    },
    items(value: unknown) {
      if (value === undefined || value === null) return [];
      if (!isMapping(value)) throw new Error('items: the value is not a mapping');
      return Object.entries(value);
    },
    tojson(value: unknown, indent?: number) {
      return JSON.stringify(value, null, indent)
        .replaceAll('<', '\\u003c')
        .replaceAll('>', '\\u003e')
        .replaceAll('&', '\\u0026')
        .replaceAll("'", '\\u0027');
    },
    count(value: unknown) {
      return iterate(value).length;
    },
    attr(value: unknown, name: unknown) {
      return member(value, name);
    },
  };
  // Jinja2's selectattr/rejectattr take a test and its arguments (`selectattr('v', 'gt', 1)`);
  // Nunjucks' take only the attribute and silently ignored the rest.
  const passes = (value: unknown, test: unknown, args: unknown[]) => {
    if (test === undefined) return pyTruthy(value);
    const fn = (env as unknown as { getTest(name: string): (...a: unknown[]) => boolean }).getTest(
      String(test),
    );
    return Boolean(fn(value, ...args));
  };
  filters.selectattr = (values: unknown, attribute: unknown, test?: unknown, ...args: unknown[]) =>
    iterate(values).filter((v) => passes(attributeOf(v, attribute), test, args));
  filters.rejectattr = (values: unknown, attribute: unknown, test?: unknown, ...args: unknown[]) =>
    iterate(values).filter((v) => !passes(attributeOf(v, attribute), test, args));
  // A string joins its characters, as in Python (`'abc' | reverse | join`).
  const nativeJoin = env.getFilter('join') as (...a: unknown[]) => unknown;
  filters.join = (value: unknown, ...rest: unknown[]) =>
    nativeJoin(typeof value === 'string' ? [...value] : value, ...rest);
  for (const [name, filter] of Object.entries(filters)) env.addFilter(name, filter as never);
  env.addGlobal('range', range);

  const tests: Record<string, (value: unknown, other?: unknown) => boolean> = {
    /** Anything with a length and items, as Jinja2 has it: a list, a string, a mapping. */
    sequence: (v) => Array.isArray(v) || typeof v === 'string' || isMapping(v),
    none: (v) => v === null,
    boolean: (v) => typeof v === 'boolean',
    true: (v) => v === true,
    false: (v) => v === false,
    integer: (v) => typeof v === 'number' && Number.isInteger(v),
    float: (v) => typeof v === 'number' && !Number.isInteger(v),
    // Jinja2's operator names for the comparison tests (`selectattr('v', '>', 1)`).
    '==': (v, other) => pyEquals(v, other),
    '!=': (v, other) => !pyEquals(v, other),
    '>': (v, other) => (v as number) > (other as number),
    '>=': (v, other) => (v as number) >= (other as number),
    '<': (v, other) => (v as number) < (other as number),
    '<=': (v, other) => (v as number) <= (other as number),
    in: (v, container) =>
      Array.isArray(container)
        ? container.some((x) => pyEquals(x, v))
        : typeof container === 'string'
          ? container.includes(String(v))
          : isMapping(container) && Object.hasOwn(container, String(v)),
  };
  // addTest is missing from the package's typings.
  const withTests = env as unknown as { addTest(name: string, test: (...args: never[]) => boolean): void };
  for (const [name, test] of Object.entries(tests)) withTests.addTest(name, test);
}

/** Jinja2's sandbox allows no longer range: a template asking for more is a mistake, not a Dockerfile. */
export const MAX_RANGE = 100_000;

/**
 * `range(stop)`, `range(start, stop[, step])` as Python's: a step of 0 is an error (Nunjucks'
 * own looped forever on some arguments), and a range longer than MAX_RANGE is refused with the
 * template's location instead of exhausting the process's memory.
 */
export function range(start: unknown, stop?: unknown, step?: unknown): number[] {
  const [from, to, by] =
    stop === undefined
      ? [0, Number(start), 1]
      : [Number(start), Number(stop), step === undefined ? 1 : Number(step)];
  if (![from, to, by].every(Number.isInteger)) throw new Error('range() takes integers');
  if (by === 0) throw new Error('range() arg 3 must not be zero');
  const length = Math.max(0, Math.ceil((to - from) / by));
  if (length > MAX_RANGE)
    throw new Error(`range() of ${length} items: more than ${MAX_RANGE} (Jinja2's sandbox limit)`);
  rangeItems += length;
  if (rangeItems > MAX_RANGE_ITEMS)
    throw new Error(
      `range() has given more than ${MAX_RANGE_ITEMS} items in all: loops nested without bound (each range is at most ${MAX_RANGE})`,
    );
  return Array.from({ length }, (_, i) => from + i * by);
}

/**
 * Nested ranges each within MAX_RANGE still multiply (100,000 × 100,000 iterations ran for hours);
 * no tree's templates come near this many in one command.
 */
export const MAX_RANGE_ITEMS = 1_000_000;
let rangeItems = 0;

/** Python's truth value: empty lists, strings and mappings, 0 and None are false. */
function pyTruthy(value: unknown): boolean {
  if (Array.isArray(value) || typeof value === 'string') return value.length > 0;
  if (isMapping(value)) return Object.keys(value).length > 0;
  return Boolean(value);
}
