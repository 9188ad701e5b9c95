// The `org.arbor.inputs` label: a compact record of an image's fingerprint inputs, written into
// the image at build time, so a later plan can say *which* input changed ("build arg X changed")
// by reading one image config from the registry. No state file: the registry is the state.
//
// Label text (version 1), JSON:
//   { "v": 1,
//     "i": { "<kind>:<name>": "<first 16 hex of the input hash>", … },
//     "a": { "context": "<16 hex>", "file": "<16 hex>" },   aggregate per bulky kind, always
//     "l": { "context": true|false, "file": true|false } }  whether each one's items are in "i"
// Contexts and glob inputs may hold thousands of files; above LIST_LIMIT items of a kind only
// its aggregate is kept, so the label stays small (image configs are fetched on every plan).
// 64 bits of each hash are plenty to tell "changed" from "unchanged" for a reason text.
import { compareBytes, hashFields } from './canonical.js';
import type { FingerprintInput, InputKind } from './model.js';

export const INPUTS_LABEL = 'org.arbor.inputs';

/** Inputs by `kind:name` → 16 hex; plus `@<kind>` aggregates and `@<kind>-listed` ("1"/"0"). */
export type InputsMap = Map<string, string>;

const LABEL_VERSION = 1;
const LIST_LIMIT = 100;
const BULKY: readonly InputKind[] = ['context', 'file'];
const HEX16 = /^[0-9a-f]{16}$/;
/** How many items of one kind a diff names before summarising the rest. */
const REASONS_PER_KIND = 10;

export function encodeInputsLabel(inputs: readonly FingerprintInput[]): string {
  const items: Record<string, string> = {};
  const aggregates: Record<string, string> = {};
  const listed: Record<string, boolean> = {};
  for (const kind of BULKY) {
    const ofKind = inputs.filter((i) => i.kind === kind);
    aggregates[kind] = aggregateOf(ofKind);
    listed[kind] = ofKind.length <= LIST_LIMIT;
  }
  for (const input of sorted(inputs)) {
    if (BULKY.includes(input.kind) && !listed[input.kind]) continue;
    items[keyOf(input)] = short(input.hash);
  }
  return JSON.stringify({ v: LABEL_VERSION, i: items, a: aggregates, l: listed });
}

/** The inputs recorded in a label, or null when the text is not a label this version wrote. */
export function decodeInputsLabel(text: string): InputsMap | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isRecord(parsed) || parsed.v !== LABEL_VERSION) return null;
  const { i: items, a: aggregates, l: listed } = parsed;
  if (!isRecord(items) || !isRecord(aggregates) || !isRecord(listed)) return null;
  const map: InputsMap = new Map();
  for (const [key, value] of Object.entries(items)) {
    if (typeof value !== 'string' || !HEX16.test(value) || !/^[a-z-]+:/.test(key)) return null;
    map.set(key, value);
  }
  for (const kind of BULKY) {
    const aggregate = aggregates[kind];
    if (typeof aggregate !== 'string' || !HEX16.test(aggregate) || typeof listed[kind] !== 'boolean')
      return null;
    map.set(`@${kind}`, aggregate);
    map.set(`@${kind}-listed`, listed[kind] ? '1' : '0');
  }
  return map;
}

/** The full map of current inputs (every item listed), comparable with a decoded label. */
export function inputsMap(inputs: readonly FingerprintInput[]): InputsMap {
  const map: InputsMap = new Map();
  for (const input of sorted(inputs)) map.set(keyOf(input), short(input.hash));
  for (const kind of BULKY) {
    map.set(`@${kind}`, aggregateOf(inputs.filter((i) => i.kind === kind)));
    map.set(`@${kind}-listed`, '1');
  }
  return map;
}

export type InputChange = 'added' | 'changed' | 'removed';

/** Per input key of `current` or `previous`: how it differs (absent when equal). */
export function compareInputs(
  current: readonly FingerprintInput[],
  previous: InputsMap,
): { changes: Map<string, InputChange>; wholesale: InputKind[] } {
  const now = inputsMap(current);
  const changes = new Map<string, InputChange>();
  // Kinds whose items the previous label did not list: only their aggregate can be compared.
  const wholesale = BULKY.filter((kind) => previous.get(`@${kind}-listed`) !== '1');
  const comparable = (key: string) => !key.startsWith('@') && !wholesale.includes(kindOf(key));
  for (const [key, hash] of now) {
    if (!comparable(key)) continue;
    const before = previous.get(key);
    if (before === undefined) changes.set(key, 'added');
    else if (before !== hash) changes.set(key, 'changed');
  }
  for (const key of previous.keys()) if (comparable(key) && !now.has(key)) changes.set(key, 'removed');
  return {
    changes,
    wholesale: wholesale.filter((kind) => previous.get(`@${kind}`) !== now.get(`@${kind}`)),
  };
}

/** Human reasons why the current inputs differ from the recorded ones, in canonical order. */
export function diffInputs(current: readonly FingerprintInput[], previous: InputsMap): string[] {
  const { changes, wholesale } = compareInputs(current, previous);
  const reasons: string[] = [];
  const perKind = new Map<string, number>();
  const keys = [...changes.keys()].sort((a, b) => compareBytes(a, b));
  for (const key of keys) {
    const kind = kindOf(key);
    const count = (perKind.get(kind) ?? 0) + 1;
    perKind.set(kind, count);
    if (count <= REASONS_PER_KIND) reasons.push(reasonFor(kind, nameOf(key), changes.get(key)!));
  }
  for (const [kind, count] of perKind)
    if (count > REASONS_PER_KIND)
      reasons.push(`${count - REASONS_PER_KIND} more ${KIND_WORDS[kind as InputKind] ?? kind} changes`);
  for (const kind of wholesale)
    reasons.push(kind === 'context' ? 'build context changed' : 'input files changed');
  return reasons;
}

const KIND_WORDS: Record<InputKind, string> = {
  format: 'fingerprint format',
  dockerfile: 'Dockerfile',
  context: 'context file',
  file: 'input',
  env: 'env',
  base: 'base',
  args: 'build arg',
  platforms: 'platforms',
  labels: 'label',
  'content-fingerprint': 'content fingerprint command',
  parent: 'parent',
};

function reasonFor(kind: string, name: string, change: InputChange): string {
  switch (kind as InputKind) {
    case 'format':
      return 'fingerprint format changed';
    case 'dockerfile':
      return `Dockerfile ${change}`;
    case 'platforms':
      return `platforms ${change}`;
    case 'content-fingerprint':
      return `content fingerprint command ${change}`;
    case 'parent':
      return change === 'changed' ? 'parent fingerprint changed' : `parent ${name} ${change}`;
    default:
      return `${KIND_WORDS[kind as InputKind] ?? kind} ${name} ${change}`;
  }
}

function aggregateOf(inputs: readonly FingerprintInput[]): string {
  const fields: string[] = [];
  for (const input of sorted(inputs)) fields.push(input.name, input.hash);
  return short(hashFields(fields));
}

function sorted(inputs: readonly FingerprintInput[]): FingerprintInput[] {
  return [...inputs].sort((a, b) => compareBytes(a.kind, b.kind) || compareBytes(a.name, b.name));
}

function keyOf(input: FingerprintInput): string {
  return `${input.kind}:${input.name}`;
}

function kindOf(key: string): InputKind {
  return key.slice(0, key.indexOf(':')) as InputKind;
}

function nameOf(key: string): string {
  return key.slice(key.indexOf(':') + 1);
}

function short(hash: string): string {
  return hash.replace(/^sha256:/, '').slice(0, 16);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
