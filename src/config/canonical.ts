// The config digest: a hash of what the file says, not how it is written. Comments, key
// order, quoting and anchors do not change it; any value does.
import { sha256 } from '../sha256.js';

/** JSON with object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

export function configDigest(data: unknown): string {
  return sha256(canonicalJson(data));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort())
      sorted[key] = sortKeys((value as Record<string, unknown>)[key]);
    return sorted;
  }
  return value;
}
