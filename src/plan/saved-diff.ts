// How a saved plan differs from the plan recomputed from what it records (its config, the
// registry state it observed): every field of every image, deletion and observed tag, named so a
// person can see what was edited. Pure: two plain values in, messages out.
import type { Plan } from './model.js';

export interface PlanDifference {
  /** `image keystone: tagsToAdd`, `deletion …`, `observed["…"]`, `summary.build` */
  where: string;
  /** What plan.json says, and what the recomputation gives (JSON, shortened); undefined = absent. */
  saved: string | undefined;
  expected: string | undefined;
  /** A whole image or deletion on one side only (named by `where`, its content not shown). */
  entry?: boolean;
}

/**
 * Every difference between the saved plan and the expected one, images and deletions matched
 * by identity (name; repository, tag and digest), in the expected plan's order.
 */
export function planDifferences(saved: unknown, expected: Plan): PlanDifference[] {
  const found: PlanDifference[] = [];
  const savedRecord = asRecord(saved);
  const expectedRecord = expected as unknown as Record<string, unknown>;
  for (const key of unionKeys(savedRecord, expectedRecord)) {
    const a = savedRecord[key];
    const b = expectedRecord[key];
    if (key === 'images') compareKeyed('image', a, b, imageKey, found);
    else if (key === 'deletions') compareKeyed('deletion', a, b, deletionKey, found);
    else compareValues(key, a, b, found);
  }
  return found;
}

/** `image keystone: tagsToAdd is ["evil"] in plan.json; images.yaml gives ["2025.1"]` */
export function describeDifference(d: PlanDifference, savedName: string, expectedName: string): string {
  if (d.entry && d.saved === undefined) return `${d.where}: ${expectedName} gives it, ${savedName} does not`;
  if (d.entry) return `${d.where}: in ${savedName}, but ${expectedName} gives no such entry`;
  if (d.saved === undefined)
    return `${d.where}: missing in ${savedName}; ${expectedName} gives ${d.expected}`;
  if (d.expected === undefined)
    return `${d.where}: ${d.saved} in ${savedName}; ${expectedName} has no such entry`;
  return `${d.where}: ${d.saved} in ${savedName}; ${expectedName} gives ${d.expected}`;
}

function imageKey(value: unknown): string | undefined {
  const name = asRecord(value).name;
  return typeof name === 'string' ? name : undefined;
}

function deletionKey(value: unknown): string | undefined {
  const d = asRecord(value);
  if (typeof d.repository !== 'string' || typeof d.digest !== 'string') return undefined;
  return `${d.repository}${typeof d.tag === 'string' ? `:${d.tag}` : ''}@${d.digest}`;
}

/** Lists of entries with an identity: missing, extra, moved, and field by field for the rest. */
function compareKeyed(
  kind: string,
  saved: unknown,
  expected: unknown,
  keyOf: (value: unknown) => string | undefined,
  found: PlanDifference[],
): void {
  if (!Array.isArray(saved) || !Array.isArray(expected)) {
    compareValues(`${kind}s`, saved, expected, found);
    return;
  }
  const savedByKey = new Map<string, unknown>();
  saved.forEach((entry, i) => {
    const key = keyOf(entry);
    if (key === undefined || savedByKey.has(key)) {
      found.push({ where: `${kind}s[${i}]`, saved: shown(entry), expected: undefined });
      return;
    }
    savedByKey.set(key, entry);
  });
  const expectedKeys = new Set<string>();
  for (const entry of expected) {
    const key = keyOf(entry)!;
    expectedKeys.add(key);
    const other = savedByKey.get(key);
    if (other === undefined)
      found.push({ where: `${kind} ${key}`, saved: undefined, expected: shown(entry), entry: true });
    else compareValues(`${kind} ${key}`, other, entry, found, ': ');
  }
  for (const [key, entry] of savedByKey)
    if (!expectedKeys.has(key))
      found.push({ where: `${kind} ${key}`, saved: shown(entry), expected: undefined, entry: true });
  // The same entries in another order: apply follows the order, so it is part of the plan.
  const savedOrder = [...savedByKey.keys()].filter((key) => expectedKeys.has(key));
  const expectedOrder = expected.map(keyOf).filter((key): key is string => savedByKey.has(key!));
  if (savedOrder.join('\u0000') !== expectedOrder.join('\u0000'))
    found.push({ where: `order of ${kind}s`, saved: shown(savedOrder), expected: shown(expectedOrder) });
}

/** Field by field through mappings; lists and scalars compared whole. */
function compareValues(
  where: string,
  saved: unknown,
  expected: unknown,
  found: PlanDifference[],
  separator = '.',
): void {
  if (isRecord(saved) && isRecord(expected)) {
    for (const key of unionKeys(saved, expected)) {
      const path = /^[A-Za-z_]\w*$/.test(key)
        ? `${where}${separator}${key}`
        : `${where}[${JSON.stringify(key)}]`;
      compareValues(path, saved[key], expected[key], found);
    }
    return;
  }
  const a = json(saved);
  const b = json(expected);
  if (a !== b)
    found.push({
      where,
      saved: saved === undefined ? undefined : shown(saved),
      expected: expected === undefined ? undefined : shown(expected),
    });
}

function unionKeys(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  const keys = Object.keys(b);
  for (const key of Object.keys(a)) if (!Object.hasOwn(b, key)) keys.push(key);
  return keys;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function asRecord(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}

/** Canonical JSON (keys sorted), so key order in plan.json is not a difference. */
function json(value: unknown): string | undefined {
  return JSON.stringify(value, (_key, v: unknown) =>
    isRecord(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, v[k]]),
        )
      : v,
  );
}

const SHOWN_MAX = 100;

function shown(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length <= SHOWN_MAX ? text : `${text.slice(0, SHOWN_MAX)}… (${text.length} characters)`;
}
