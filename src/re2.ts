// RE2 (linear time, no backtracking) for the patterns images.yaml may hold: retention's tags,
// a promotion target's tags and immutable tags, a gate's required tag. re2js is 270 KB of
// JavaScript, ≈ 10–18 ms of a command's start-up on Node 20 to load, and most trees hold no
// pattern at all: it is loaded the first time a pattern is compiled, not with the config code.
// A synchronous require keeps every caller synchronous (the retention and promotion planners
// are pure functions); it resolves re2js from node_modules, where npm installed it beside arbor.
import { createRequire } from 'node:module';
import type { RE2JS as RE2JSClass } from 're2js';

export type RE2 = RE2JSClass;

let engine: typeof RE2JSClass | undefined;
/** Each pattern compiled once per run: the loader checks it, the planners match tags with it. */
const compiled = new Map<string, RE2>();

/** `pattern` compiled with RE2; throws its parse error (as RE2JS.compile does). */
export function compileRe2(pattern: string): RE2 {
  let re = compiled.get(pattern);
  if (!re) {
    engine ??= (createRequire(import.meta.url)('re2js') as typeof import('re2js')).RE2JS;
    re = engine.compile(pattern);
    compiled.set(pattern, re);
  }
  return re;
}
