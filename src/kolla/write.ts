// Writes an import into a project directory, again and again. `.kolla-import.json` remembers what
// the last import wrote: the hash of each file, the value of each images.yaml key it owns, the
// items it added to lists. A new import then
//   - rewrites what it wrote before and nobody changed, and deletes what it no longer produces;
//   - leaves alone everything else in images.yaml (comments, retention, the user's variables,
//     images, inputs, list items), editing the document in place;
//   - stops, before changing anything, when a generated file or value was edited since (or a file
//     it would write exists and is not its own), naming each one with its location — unless
//     `force` is set, and then it says what it overwrote.

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import YAML, { type Document, isMap, isSeq, LineCounter } from 'yaml';
import { displayPath } from '../display-path.js';
import { ArborError, type Diagnostic, error, type SourceLocation, warning } from '../errors.js';
import { writeFileAtomic } from '../write-atomic.js';
import type { OwnedItems, OwnedValue, ProjectPlan } from './project.js';

export const MANIFEST = '.kolla-import.json';
export const IMAGES_FILE = 'images.yaml';

interface Manifest {
  formatVersion: 1;
  files: Record<string, string>;
  values: OwnedValue[];
  items: OwnedItems[];
}

export interface WriteResult {
  written: string[];
  deleted: string[];
  unchanged: number;
  imagesYamlChanged: boolean;
  /** With `force`: what was overwritten although edited. */
  overwritten: Diagnostic[];
}

const HEADER = [
  ' Imported from a Kolla checkout by `arbor import-kolla` (docs/kolla.md).',
  ' The next import rewrites what the import wrote: the variables kolla-build gives its templates,',
  ' templates_dir, template_options, and per image: parent/from, template, context, variables and',
  ' its kolla-sources inputs. Everything else is yours and survives (retention, your own variables,',
  ' images, tags, inputs, template_overrides items). If you edit a generated value, the next import',
  ' stops and names it; --force overwrites it.',
].join('\n');

const TOP_LEVEL_ORDER = [
  'version',
  'registry',
  'templates_dir',
  'template_helpers',
  'template_options',
  'template_overrides',
  'variables',
  'tags',
  'images',
];

const STRINGIFY = { lineWidth: 0, flowCollectionPadding: false } as const;

function hashOf(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

const keyOf = (p: readonly string[]) => JSON.stringify(p);

export async function writeProject(
  outDir: string,
  plan: ProjectPlan,
  options: { force: boolean },
): Promise<WriteResult> {
  const manifestFile = path.join(outDir, MANIFEST);
  const manifest = readManifest(manifestFile);
  const imagesFile = path.join(outDir, IMAGES_FILE);
  const conflicts: Diagnostic[] = [];

  // ---- files
  const toWrite: Array<[string, string | Uint8Array]> = [];
  const toDelete: string[] = [];
  let unchanged = 0;
  const fileHashes: Record<string, string> = {};
  for (const [rel, content] of plan.files) {
    const file = path.join(outDir, rel);
    const wanted = hashOf(content);
    fileHashes[rel] = wanted;
    if (!existsSync(file)) {
      toWrite.push([rel, content]);
      continue;
    }
    const onDisk = hashOf(readFileSync(file));
    if (onDisk === wanted) {
      unchanged++;
      continue;
    }
    const last = manifest.files[rel];
    if (last === onDisk) toWrite.push([rel, content]);
    else {
      conflicts.push(
        error(
          last === undefined
            ? `${displayPath(file)} exists and was not written by import-kolla; it would be overwritten`
            : `${displayPath(file)} was edited since the last import; it would be overwritten (put changes in a template override)`,
        ),
      );
      toWrite.push([rel, content]);
    }
  }
  for (const [rel, last] of Object.entries(manifest.files)) {
    if (plan.files.has(rel)) continue;
    const file = path.join(outDir, rel);
    if (!existsSync(file)) continue;
    if (hashOf(readFileSync(file)) !== last)
      conflicts.push(
        error(
          `${displayPath(file)} was edited since the last import; the checkout no longer has it, so it would be deleted`,
        ),
      );
    toDelete.push(rel);
  }

  // ---- images.yaml
  const lineCounter = new LineCounter();
  const existing = existsSync(imagesFile) ? readFileSync(imagesFile, 'utf8') : undefined;
  const doc = existing === undefined ? newDocument(plan) : parseDocument(existing, imagesFile, lineCounter);
  // The stringifier normalizes formatting; the file is rewritten only when a value changed.
  const before = existing === undefined ? undefined : doc.toString(STRINGIFY);
  const where = (p: readonly string[]): SourceLocation | undefined => locate(doc, lineCounter, p, imagesFile);
  const lastValues = new Map(manifest.values.map((v) => [keyOf(v.path), v.value]));
  const wantedValues = new Set(plan.values.map((v) => keyOf(v.path)));

  for (const { path: p, value } of plan.values) {
    const current = getIn(doc, p);
    if (current === undefined || equal(current, value)) {
      if (current === undefined) setIn(doc, p, value);
      continue;
    }
    const last = lastValues.get(keyOf(p));
    if (!lastValues.has(keyOf(p)) || !equal(current, last))
      conflicts.push(
        error(
          `${p.join('.')} ${lastValues.has(keyOf(p)) ? 'was edited since the last import' : 'is not the imported value'}: ${short(current)}; the import writes ${short(value)}`,
          { loc: where(p) ?? { file: displayPath(imagesFile), line: 1, col: 1 } },
        ),
      );
    setIn(doc, p, value);
  }
  for (const { path: p, value: last } of manifest.values) {
    if (wantedValues.has(keyOf(p))) continue;
    const current = getIn(doc, p);
    if (current === undefined) continue;
    if (!equal(current, last))
      conflicts.push(
        error(
          `${p.join('.')} was edited since the last import; the checkout no longer has it, so it would be deleted`,
          {
            loc: where(p) ?? { file: displayPath(imagesFile), line: 1, col: 1 },
          },
        ),
      );
    deleteIn(doc, p);
  }

  const lastItems = new Map(manifest.items.map((i) => [keyOf(i.path), i.items]));
  const wantedItems = new Set(plan.items.map((i) => keyOf(i.path)));
  for (const { path: p, items } of plan.items) mergeItems(doc, p, items, lastItems.get(keyOf(p)) ?? []);
  for (const { path: p, items: last } of manifest.items)
    if (!wantedItems.has(keyOf(p))) mergeItems(doc, p, [], last);

  for (const { path: p, value } of plan.initial) if (getIn(doc, p) === undefined) setIn(doc, p, value);

  if (conflicts.length > 0 && !options.force)
    throw new ArborError([
      ...conflicts,
      error(`nothing was changed in ${displayPath(outDir)}; run again with --force to overwrite`),
    ]);

  // ---- write
  for (const [rel, content] of toWrite)
    await writeFileAtomic(path.join(outDir, rel), content, { makeDirectory: true });
  for (const rel of toDelete) await rm(path.join(outDir, rel), { force: true });
  const text = doc.toString(STRINGIFY);
  const imagesYamlChanged = text !== before;
  if (imagesYamlChanged) await writeFileAtomic(imagesFile, text, { makeDirectory: true });
  const next: Manifest = { formatVersion: 1, files: fileHashes, values: plan.values, items: plan.items };
  await mkdir(outDir, { recursive: true });
  await writeFileAtomic(manifestFile, `${JSON.stringify(next, null, 1)}\n`);
  return {
    written: toWrite.map(([rel]) => rel),
    deleted: toDelete,
    unchanged,
    imagesYamlChanged,
    overwritten: conflicts.map((c) =>
      warning(`overwritten: ${c.message}`, c.loc ? { loc: c.loc } : undefined),
    ),
  };
}

function readManifest(file: string): Manifest {
  if (!existsSync(file)) return { formatVersion: 1, files: {}, values: [], items: [] };
  let data: Manifest;
  try {
    data = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
  } catch (err) {
    throw new ArborError([
      error(`${displayPath(file)}: not valid JSON (${(err as Error).message}); delete it to import afresh`),
    ]);
  }
  if (
    data.formatVersion !== 1 ||
    typeof data.files !== 'object' ||
    !Array.isArray(data.values) ||
    !Array.isArray(data.items)
  )
    throw new ArborError([
      error(`${displayPath(file)}: not a manifest of arbor import-kolla; delete it to import afresh`),
    ]);
  return data;
}

function parseDocument(text: string, file: string, lineCounter: LineCounter): Document {
  const doc = YAML.parseDocument(text, { lineCounter, keepSourceTokens: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = e.linePos?.[0];
    throw new ArborError([
      error(`cannot update it: ${e.message.split('\n')[0]}`, {
        loc: { file: displayPath(file), line: pos?.line ?? 1, col: pos?.col ?? 1 },
      }),
    ]);
  }
  if (doc.contents !== null && !isMap(doc.contents))
    throw new ArborError([
      error('cannot update it: the document is not a mapping', {
        loc: { file: displayPath(file), line: 1, col: 1 },
      }),
    ]);
  return doc;
}

/** A new images.yaml: the header, and the top-level keys in a readable order. */
function newDocument(plan: ProjectPlan): Document {
  const doc = new YAML.Document({});
  doc.commentBefore = HEADER;
  const present = new Set([...plan.values, ...plan.initial].map((v) => v.path[0]));
  if (plan.items.some((i) => i.path[0] === 'template_overrides' && i.items.length > 0))
    present.add('template_overrides');
  for (const key of TOP_LEVEL_ORDER) {
    if (!present.has(key)) continue;
    const first = [...plan.initial, ...plan.values].find((v) => v.path.length === 1 && v.path[0] === key);
    if (first) setIn(doc, [key], first.value);
    else doc.setIn([key], doc.createNode(key === 'template_overrides' ? [] : {}));
  }
  return doc;
}

function getIn(doc: Document, p: readonly string[]): unknown {
  const node = doc.getIn(p, true) as unknown;
  if (node === undefined) return undefined;
  return YAML.isNode(node) ? node.toJSON() : node;
}

/** Small mappings of scalars are written in flow style: `{ uid: 42400, gid: 42400, group: kolla }`. */
function setIn(doc: Document, p: readonly string[], value: unknown): void {
  ensureMaps(doc, p.slice(0, -1));
  const node = doc.createNode(value);
  YAML.visit(node, {
    Map(_key, map) {
      if (map.items.length <= 4 && map.items.every((pair) => YAML.isScalar(pair.value))) map.flow = true;
    },
  });
  doc.setIn(p, node);
}

/** Creates missing parent mappings, so `setIn` never meets a null (`images:` with nothing under it). */
function ensureMaps(doc: Document, p: readonly string[]): void {
  for (let i = 1; i <= p.length; i++) {
    const at = p.slice(0, i);
    const node = doc.getIn(at, true);
    if (node === undefined || node === null || (YAML.isScalar(node) && node.value === null))
      doc.setIn(at, doc.createNode({}));
  }
}

function deleteIn(doc: Document, p: readonly string[]): void {
  doc.deleteIn(p);
  // Prune mappings the deletion left empty (an image removed upstream, its `inputs`).
  for (let i = p.length - 1; i >= 2; i--) {
    const parent = doc.getIn(p.slice(0, i), true);
    if (isMap(parent) && parent.items.length === 0) doc.deleteIn(p.slice(0, i));
    else break;
  }
}

/** The import's items first (their order matters for template_overrides), then the user's. */
function mergeItems(doc: Document, p: readonly string[], ours: string[], lastOurs: string[]): void {
  const node = doc.getIn(p, true);
  const current = isSeq(node) ? (node.toJSON() as unknown[]).map(String) : [];
  const users = current.filter((i) => !lastOurs.includes(i) && !ours.includes(i));
  const next = [...ours, ...users];
  if (equal(next, current) && (node !== undefined || next.length === 0)) return;
  if (next.length === 0) deleteIn(doc, p);
  else setIn(doc, p, next);
}

function locate(
  doc: Document,
  lineCounter: LineCounter,
  p: readonly string[],
  file: string,
): SourceLocation | undefined {
  const node = doc.getIn(p, true) as { range?: [number, number, number] } | undefined;
  const offset = node && typeof node === 'object' && node.range ? node.range[0] : undefined;
  if (offset === undefined) return undefined;
  const pos = lineCounter.linePos(offset);
  return { file: displayPath(file), line: pos.line, col: pos.col };
}

function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v !== null && typeof v === 'object')
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
    );
  return v;
}

function short(v: unknown): string {
  const text = JSON.stringify(v) ?? 'null';
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
