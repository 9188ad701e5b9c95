// The nodes of images.yaml whose value the schema rejected. Later checks consult it so a node
// is reported once: a value the schema already called wrong is not checked again (its schema
// message, annotated in the schema, is the specific one).
import type { DataPath } from './source.js';

export interface Rejected {
  /** The schema rejected the value at `path`, or a value holding it. */
  at(path: DataPath): boolean;
  /** The schema rejected the value at `path` or some value below it. */
  within(path: DataPath): boolean;
}

/** Nothing rejected: the file matched the schema. */
export const NOTHING_REJECTED: Rejected = { at: () => false, within: () => false };

export function rejectedPaths(paths: readonly DataPath[]): Rejected {
  if (paths.length === 0) return NOTHING_REJECTED;
  const exact = new Set(paths.map(keyOf));
  // Every ancestor of a rejected node (itself included) has something rejected within it.
  const holders = new Set(paths.flatMap((p) => p.map((_, i) => keyOf(p.slice(0, i + 1))).concat(keyOf([]))));
  return {
    at: (path) => {
      for (let length = 0; length <= path.length; length++) {
        if (exact.has(keyOf(path.slice(0, length)))) return true;
      }
      return false;
    },
    within: (path) => holders.has(keyOf(path)),
  };
}

/** Numbers and strings alike (`retention.0` is `retention[0]`), as ajv's pointers do not tell them apart. */
function keyOf(path: DataPath): string {
  return JSON.stringify(path.map(String));
}
