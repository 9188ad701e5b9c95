// images.yaml in pieces that parse on their own, so that an edit costs the parse of what it
// touched. A CI run or an edit changes a few images or one section (a promotion target, a tag),
// and a parse of the whole file with positions is ≈ 100 ms for 187 images, on every command
// after every edit. source-index.ts keeps the index of each piece by its text's digest; this
// module finds the pieces and puts their indexes together into the index of the whole text,
// equal to what parsing the whole text gives (test/unit/config/source-chunks.test.ts compares
// them node by node).
//
// The cuts are made only where YAML leaves no choice: before a line at column 0 that starts a
// top-level key, and inside a top-level `key:` whose value is a block mapping, before each line
// at that mapping's indentation (one image under `images:`). Anything else at those columns
// (a document marker, a directive, a complex key, a flow collection, a tab) and the text is not
// cut there. A cut in the wrong place cannot pass unnoticed: the piece before it holds an
// unterminated quote or bracket and has a YAML error, and a piece with any problem makes the
// caller parse the whole text instead, as does a key found in two pieces or a piece that is
// not one mapping.
import type { IndexedNode, SourceIndex } from './source-index.js';

/** A run of whole lines of the text; `firstLine` is the 1-based line it starts on. */
export interface Chunk {
  text: string;
  firstLine: number;
}

export type Piece =
  /** Parsed as it is: one top-level section, or the whole text when it cannot be cut. */
  | { kind: 'whole'; chunk: Chunk }
  /** `key:` on line `line`, then a block mapping cut into its entries (one chunk each). */
  | { kind: 'entries'; key: string; line: number; chunks: Chunk[] };

const BLANK_OR_COMMENT = /^[ \t]*(?:#.*)?\r?$/;
const DOCUMENT_START = /^---[ \t]*(?:#.*)?\r?$/;
/** A header `key:` with nothing after it but a comment: its value is on the next lines. */
const HEADER = /^([A-Za-z_][A-Za-z0-9_-]*)[ \t]*:[ \t]*(?:#.*)?\r?$/;
/** Plain keys YAML 1.2's core schema reads as something other than that string. */
const NOT_A_STRING_KEY = /^(?:true|True|TRUE|false|False|FALSE|null|Null|NULL)$/;
/**
 * What a line at a cut column may start with and still begin a `key: value` pair YAML reads the
 * same alone: not a comment or list item (they continue what is open), and not a complex key,
 * flow collection, alias, anchor, tag, block scalar, directive or reserved character.
 */
const CANNOT_START_A_CUT = new Set([
  '?',
  ':',
  '[',
  ']',
  '{',
  '}',
  ',',
  '&',
  '*',
  '!',
  '|',
  '>',
  '%',
  '@',
  '`',
]);

/** The pieces of `text`; one `whole` piece when it cannot be cut. */
export function splitSource(text: string): Piece[] {
  const lines = text.split('\n');
  const starts: number[] = [];
  let offset = 0;
  for (const line of lines) {
    starts.push(offset);
    offset += line.length + 1;
  }
  const slice = (from: number, to: number): Chunk => ({
    text: text.slice(starts[from]!, to < lines.length ? starts[to]! : text.length),
    firstLine: from + 1,
  });
  const whole: Piece[] = [{ kind: 'whole', chunk: { text, firstLine: 1 } }];

  // Top-level sections: every line at column 0 that is not blank, a comment or a list item.
  const cuts: number[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (BLANK_OR_COMMENT.test(line)) continue;
    if (cuts.length === 0 && DOCUMENT_START.test(line)) continue; // `---` opening the file
    if (line[0] === ' ' || isListItem(line, 0)) {
      if (cuts.length === 0) return whole; // the file does not start with a key
      continue;
    }
    if (!canStartCut(line, 0)) return whole;
    cuts.push(i);
  }
  if (cuts.length === 0) return whole;
  // What comes before the first key is blank lines, comments and `---`: it goes with the first
  // section (or with no piece at all when that section is cut into entries).
  const pieces: Piece[] = [];
  for (let s = 0; s < cuts.length; s++) {
    const from = s === 0 ? 0 : cuts[s]!;
    const to = s + 1 < cuts.length ? cuts[s + 1]! : lines.length;
    pieces.push(entriesOf(lines, cuts[s]!, to, slice) ?? { kind: 'whole', chunk: slice(from, to) });
  }
  return pieces;
}

/** The section from `header` to `end` (exclusive) cut into its mapping's entries, or null. */
function entriesOf(
  lines: string[],
  header: number,
  end: number,
  slice: (from: number, to: number) => Chunk,
): Piece | null {
  const key = HEADER.exec(lines[header]!)?.[1];
  if (key === undefined || NOT_A_STRING_KEY.test(key)) return null;
  let indent = -1;
  const cuts: number[] = [];
  for (let i = header + 1; i < end; i++) {
    const line = lines[i]!;
    if (BLANK_OR_COMMENT.test(line)) continue;
    const depth = leadingSpaces(line);
    if (line[depth] === '\t') return null;
    if (indent < 0) indent = depth;
    if (depth < indent || depth === 0) return null;
    if (depth > indent) continue;
    if (isListItem(line, depth) || !canStartCut(line, depth)) return null;
    cuts.push(i);
  }
  if (cuts.length === 0) return null;
  // Comments between the header and the first entry go with the first entry.
  const chunks = cuts.map((cut, c) => slice(c === 0 ? header + 1 : cut, cuts[c + 1] ?? end));
  return { kind: 'entries', key, line: header + 1, chunks };
}

function leadingSpaces(line: string): number {
  let n = 0;
  while (line[n] === ' ') n++;
  return n;
}

function isListItem(line: string, at: number): boolean {
  return line[at] === '-' && (at + 1 === line.length || ' \t\r'.includes(line[at + 1]!));
}

function canStartCut(line: string, at: number): boolean {
  const first = line[at]!;
  if (first === '\t' || CANNOT_START_A_CUT.has(first)) return false;
  // `--- ` (a second document) and `...` (a document's end) only look like keys.
  return !(at === 0 && (line.startsWith('---') || line.startsWith('...')));
}

/**
 * The index of the whole text from the index of each of its chunks (made by parsing that chunk
 * alone), or null when they do not fit together as the parse of the whole would: a chunk
 * without an index, one that is not a mapping, or a key in two chunks.
 */
export function assembleIndex(
  pieces: readonly Piece[],
  indexOf: (chunk: Chunk) => SourceIndex | undefined,
): SourceIndex | null {
  if (pieces.length === 1 && pieces[0]!.kind === 'whole') {
    const chunk = pieces[0]!.chunk;
    const index = indexOf(chunk);
    return index ? shifted(index, chunk.firstLine - 1) : null;
  }
  const data: Record<string, unknown> = {};
  const nodes: SourceIndex['nodes'] = {};
  const keys: SourceIndex['keys'] = { '': [] };
  let root: IndexedNode | undefined;

  /** The chunk's keys, data and nodes added under `prefix`; its own root node returned. */
  const add = (chunk: Chunk, prefix: string, into: Record<string, unknown>, intoKeys: string[]) => {
    const index = indexOf(chunk);
    if (!index || !isPlainObject(index.data)) return undefined;
    // Data keys are not always the keys as written (`null:` is "" in the data), so each list is
    // carried over as it is.
    for (const [key, value] of Object.entries(index.data)) {
      if (Object.hasOwn(into, key)) return undefined;
      into[key] = value;
    }
    intoKeys.push(...(index.keys[''] ?? []));
    // The chunk's own root (path '') is the mapping the caller describes, not a node of its own.
    const lines = chunk.firstLine - 1;
    for (const path in index.nodes) if (path !== '') nodes[prefix + path] = moved(index.nodes[path]!, lines);
    for (const path in index.keys) if (path !== '') keys[prefix + path] = index.keys[path]!;
    return index.nodes[''] && moved(index.nodes['']!, lines);
  };

  for (const piece of pieces) {
    if (piece.kind === 'whole') {
      const own = add(piece.chunk, '', data, keys['']!);
      if (!own) return null;
      root ??= own;
      continue;
    }
    if (Object.hasOwn(data, piece.key)) return null;
    // A mapping is where its first key is; the whole file's, where its first top-level key is.
    root ??= [piece.line, 1, 0, 0, 1];
    const path = `\u0000${piece.key}`;
    const value: Record<string, unknown> = {};
    const entryKeys: string[] = [];
    let mapping: IndexedNode | undefined;
    for (const chunk of piece.chunks) {
      const own = add(chunk, path, value, entryKeys);
      if (!own) return null;
      mapping ??= own;
    }
    keys['']!.push(piece.key);
    data[piece.key] = value;
    keys[path] = entryKeys;
    nodes[path] = [mapping![0], mapping![1], piece.line, 1, 1];
  }
  nodes[''] = root!;
  return { data, nodes, keys };
}

/** The index with every line moved down by `lines`. */
function shifted(index: SourceIndex, lines: number): SourceIndex {
  const nodes: SourceIndex['nodes'] = {};
  for (const path in index.nodes) nodes[path] = moved(index.nodes[path]!, lines);
  return { data: index.data, nodes, keys: index.keys };
}

function moved([line, col, keyLine, keyCol, pointAtKey]: IndexedNode, lines: number): IndexedNode {
  return [line > 0 ? line + lines : 0, col, keyLine > 0 ? keyLine + lines : 0, keyCol, pointAtKey];
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The index of each chunk cut out of the index of the whole text: what parsing that chunk alone
 * gives, without parsing it. Null when the whole does not have one key per piece and per entry
 * (the pieces are then parsed alone the next time).
 */
export function cutIndex(pieces: readonly Piece[], whole: SourceIndex): Map<Chunk, SourceIndex> | null {
  if (pieces.length === 1 && pieces[0]!.kind === 'whole') return new Map([[pieces[0]!.chunk, whole]]);
  const topKeys = whole.keys[''] ?? [];
  if (!isPlainObject(whole.data) || topKeys.length !== pieces.length) return null;
  const cutSections = new Set(pieces.flatMap((p) => (p.kind === 'entries' ? [p.key] : [])));
  // Every path by the top-level key or section entry it belongs to ('\0k', or '\0K\0e').
  const owner = (path: string): string => {
    const first = path.indexOf('\u0000', 1);
    if (first < 0 || !cutSections.has(path.slice(1, first))) return first < 0 ? path : path.slice(0, first);
    const second = path.indexOf('\u0000', first + 1);
    return second < 0 ? path : path.slice(0, second);
  };
  const nodesBy = new Map<string, string[]>();
  for (const path in whole.nodes) {
    if (path === '') continue;
    const key = owner(path);
    const list = nodesBy.get(key);
    if (list) list.push(path);
    else nodesBy.set(key, [path]);
  }

  const result = new Map<Chunk, SourceIndex>();
  /** The chunk holding the pair at `path` (key `key` in `data`), its paths relative to `prefix`. */
  const cut = (chunk: Chunk, path: string, key: string, data: Record<string, unknown>, prefix: string) => {
    // The data key of a key as written: the same, but `null:` (or `~:`) is "" in the data.
    const dataKey = Object.hasOwn(data, key)
      ? key
      : key === 'null' && Object.hasOwn(data, '')
        ? ''
        : undefined;
    const at = whole.nodes[path];
    // The pair must start inside the chunk: a key elsewhere means the cut is not where YAML
    // put the pairs.
    if (
      dataKey === undefined ||
      !at ||
      at[2] < chunk.firstLine ||
      at[2] >= chunk.firstLine + lineCount(chunk.text)
    )
      return false;
    const lines = -(chunk.firstLine - 1);
    const nodes: SourceIndex['nodes'] = { '': [at[2] + lines, at[3], 0, 0, 1] };
    const keys: SourceIndex['keys'] = { '': [key] };
    for (const p of nodesBy.get(path) ?? []) {
      nodes[p.slice(prefix.length)] = moved(whole.nodes[p]!, lines);
      const list = whole.keys[p];
      if (list) keys[p.slice(prefix.length)] = list;
    }
    result.set(chunk, { data: { [dataKey]: data[dataKey] }, nodes, keys });
    return true;
  };

  for (const [i, piece] of pieces.entries()) {
    const key = topKeys[i]!;
    if (piece.kind === 'whole') {
      if (!cut(piece.chunk, `\u0000${key}`, key, whole.data, '')) return null;
      continue;
    }
    const section = `\u0000${piece.key}`;
    const value = whole.data[piece.key];
    const entryKeys = whole.keys[section] ?? [];
    if (key !== piece.key || !isPlainObject(value) || entryKeys.length !== piece.chunks.length) return null;
    for (const [j, chunk] of piece.chunks.entries())
      if (!cut(chunk, `${section}\u0000${entryKeys[j]}`, entryKeys[j]!, value, section)) return null;
  }
  return result;
}

function lineCount(text: string): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < text.length - 1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
