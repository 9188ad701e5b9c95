// images.yaml's parse, kept while the file is unchanged. Parsing YAML with positions is the
// single most expensive step of loading a config (≈ 135 ms for a 187-image file on Node 20, plus
// ≈ 45 ms to load the parser), and most runs read a file that has not changed since the last.
// So a clean parse stores its data and the position of every node, keyed by the SHA-256 of the
// text; the next run answers locate/locateKey/keysAt from that index exactly as the parsed
// document would, without loading the YAML parser at all. Files with problems, aliases or
// values JSON cannot carry are parsed every time.
//
// Beside it, the index of each piece of the text (source-chunks.ts: a top-level section, or one
// entry of a section such as an image) by the SHA-256 of that piece: after an edit, only the
// pieces it touched are parsed. That file is read only when the text changed, so a run over an
// unchanged file reads what it read before.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { SourceLocation } from '../errors.js';
import { redact } from '../secrets.js';
import { writeFileAtomic } from '../write-atomic.js';
import type { DataPath, SourceDocument } from './source.js';

const FORMAT = 'arbor-config-source-index';
// Bump when the stored shape or the meaning of a position changes.
const VERSION = 1;

/** One node: [line, col] of the node, [line, col] of its key (0 when absent), point-at-key flag. */
export type IndexedNode = [number, number, number, number, number];

export interface SourceIndex {
  data: unknown;
  /** By pathKey(): every node reachable through mappings and lists. */
  nodes: Record<string, IndexedNode>;
  /** By pathKey(): the keys of every mapping, in file order. */
  keys: Record<string, string[]>;
}

/** A path as one string: each segment behind a NUL (keys holding a NUL are never indexed). */
export function pathKey(dataPath: DataPath): string {
  let key = '';
  for (const segment of dataPath) key += `\u0000${segment}`;
  return key;
}

export function sourceIndexFile(configFile: string): string {
  return path.join(path.dirname(configFile), '.arbor', 'cache', 'config-source.json');
}

export function sourcePiecesFile(configFile: string): string {
  return path.join(path.dirname(configFile), '.arbor', 'cache', 'config-source-pieces.json');
}

/** The stored index when it was made from exactly this text; null otherwise (never an error). */
export async function readSourceIndex(file: string, digest: string): Promise<SourceIndex | null> {
  let stored: { format?: unknown; version?: unknown; digest?: unknown } & Partial<SourceIndex>;
  try {
    const text = await readFile(file, 'utf8');
    // The digest is written first: the index of another text is not parsed only to be dropped.
    if (!text.startsWith(`{"format":"${FORMAT}","version":${VERSION},"digest":"${digest}"`)) return null;
    stored = JSON.parse(text);
  } catch {
    return null;
  }
  if (stored?.format !== FORMAT || stored.version !== VERSION || stored.digest !== digest) return null;
  return asSourceIndex(stored);
}

export async function writeSourceIndex(file: string, digest: string, index: SourceIndex): Promise<void> {
  await writeCache(file, { format: FORMAT, version: VERSION, digest, ...index });
}

const PIECES_FORMAT = 'arbor-config-source-pieces';
const PIECES_VERSION = 1;

/**
 * The stored index of each piece, by the SHA-256 of the piece's text, positions relative to its
 * start; empty when there are none or they cannot be read (never an error).
 */
export async function readSourcePieces(file: string): Promise<Map<string, SourceIndex>> {
  const found = new Map<string, SourceIndex>();
  let stored: { format?: unknown; version?: unknown; pieces?: unknown };
  try {
    stored = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return found;
  }
  if (stored?.format !== PIECES_FORMAT || stored.version !== PIECES_VERSION) return found;
  if (typeof stored.pieces !== 'object' || stored.pieces === null) return found;
  for (const [digest, entry] of Object.entries(stored.pieces as Record<string, Partial<SourceIndex>>)) {
    const index = asSourceIndex(entry);
    if (!index) return new Map();
    found.set(digest, index);
  }
  return found;
}

export async function writeSourcePieces(
  file: string,
  pieces: ReadonlyMap<string, SourceIndex>,
): Promise<void> {
  await writeCache(file, {
    format: PIECES_FORMAT,
    version: PIECES_VERSION,
    pieces: Object.fromEntries(pieces),
  });
}

/** A stored index read back, or null when it does not have the shape of one. */
function asSourceIndex(stored: Partial<SourceIndex> | undefined): SourceIndex | null {
  if (stored?.data === undefined || typeof stored.nodes !== 'object' || typeof stored.keys !== 'object')
    return null;
  return { data: stored.data, nodes: stored.nodes ?? {}, keys: stored.keys ?? {} };
}

async function writeCache(file: string, value: object): Promise<void> {
  const json = JSON.stringify(value);
  // A file holding what looks like a password (`user:pass@host`, refused by the checks anyway)
  // is not copied under .arbor/.
  if (redact(json) !== json) return;
  // A cache: a read-only checkout just parses every time.
  await writeFileAtomic(file, json, { makeDirectory: true }).catch(() => undefined);
}

/** The same answers source.ts gives from the parsed document, from the index. */
export function indexedSource(index: SourceIndex, displayFile: string): SourceDocument {
  const start: SourceLocation = { file: displayFile, line: 1, col: 1 };
  const loc = (line: number, col: number): SourceLocation => ({ file: displayFile, line, col });

  /** The node at the path, or the deepest one on the way (as source.ts's walk stops there). */
  const reach = (dataPath: DataPath): { node: IndexedNode | undefined; complete: boolean } => {
    let key = '';
    let node = index.nodes[key];
    for (const segment of dataPath) {
      const next = index.nodes[`${key}\u0000${segment}`];
      if (!next) return { node, complete: false };
      key = `${key}\u0000${segment}`;
      node = next;
    }
    return { node, complete: true };
  };

  function locate(dataPath: DataPath): SourceLocation {
    const { node, complete } = reach(dataPath);
    if (!node) return start;
    const [line, col, keyLine, keyCol, pointAtKey] = node;
    if (complete && keyLine > 0 && pointAtKey) return loc(keyLine, keyCol);
    if (complete && line > 0) return loc(line, col);
    if (keyLine > 0) return loc(keyLine, keyCol);
    return line > 0 ? loc(line, col) : start;
  }

  function locateKey(dataPath: DataPath): SourceLocation {
    const { node, complete } = reach(dataPath);
    if (complete && node && node[2] > 0) return loc(node[2], node[3]);
    return locate(dataPath);
  }

  function keysAt(dataPath: DataPath): string[] {
    return index.keys[pathKey(dataPath)] ?? [];
  }

  return { displayFile, data: index.data, diagnostics: [], locate, locateKey, keysAt };
}
