// images.yaml parsed with the stores of source-index.ts: the whole text's index when this exact
// text was parsed cleanly before (the YAML parser is then not even loaded); else the stored pieces
// of earlier texts (source-chunks.ts), parsing alone the pieces an edit touched when they are few,
// or the whole text once when they are many, its index then cut into pieces for the next edit. A
// text with a problem anywhere is parsed whole, so that every message is the one a whole parse
// gives, and nothing is stored for it.
import { sha256 } from '../sha256.js';
import type { SourceDocument } from './source.js';
import { assembleIndex, type Chunk, cutIndex, splitSource } from './source-chunks.js';
import {
  indexedSource,
  readSourceIndex,
  readSourcePieces,
  type SourceIndex,
  sourceIndexFile,
  sourcePiecesFile,
  writeSourceIndex,
  writeSourcePieces,
} from './source-index.js';

/** `text`, the content of `file`, parsed; positions name `shown`. */
export async function parseStored(file: string, text: string, shown: string): Promise<SourceDocument> {
  const digest = sha256(text);
  const indexFile = sourceIndexFile(file);
  const stored = await readSourceIndex(indexFile, digest);
  if (stored) return indexedSource(stored, shown);

  const pieces = splitSource(text);
  const chunks = pieces.flatMap((p) => (p.kind === 'whole' ? [p.chunk] : p.chunks));
  const piecesFile = sourcePiecesFile(file);
  const known = chunks.length > 1 ? await readSourcePieces(piecesFile) : new Map<string, SourceIndex>();
  const digestOf = new Map(chunks.map((c) => [c, sha256(c.text)]));
  const indexOf = (chunk: Chunk) => known.get(digestOf.get(chunk)!);
  /** The whole text's index, and every piece's when some were parsed or cut in this run. */
  const store = (index: SourceIndex, fresh: ReadonlyMap<Chunk, SourceIndex>) =>
    Promise.all([
      writeSourceIndex(indexFile, digest, index),
      fresh.size > 0 &&
        writeSourcePieces(
          piecesFile,
          new Map(chunks.map((c) => [digestOf.get(c)!, fresh.get(c) ?? indexOf(c)!])),
        ),
    ]);

  const missing = chunks.filter((c) => !indexOf(c));
  if (chunks.length > 1 && missing.length * 2 <= chunks.length) {
    const fresh = await parseAlone(missing, shown);
    const index = fresh && assembleIndex(pieces, (c) => fresh.get(c) ?? indexOf(c));
    if (index) {
      await store(index, fresh);
      return indexedSource(index, shown);
    }
  }
  const { parseSource } = await import('./source.js');
  const parsed = parseSource(text, shown);
  const index = parsed.index();
  if (index) await store(index, (chunks.length > 1 && cutIndex(pieces, index)) || new Map());
  return parsed;
}

/** Each chunk parsed alone; null when one of them has a problem (the whole text is then parsed). */
async function parseAlone(chunks: readonly Chunk[], shown: string): Promise<Map<Chunk, SourceIndex> | null> {
  const parsed = new Map<Chunk, SourceIndex>();
  if (chunks.length === 0) return parsed;
  // Loaded only here: a run over an unchanged file never loads the YAML parser.
  const { parseSource } = await import('./source.js');
  for (const chunk of chunks) {
    const index = parseSource(chunk.text, shown).index();
    if (!index) return null;
    parsed.set(chunk, index);
  }
  return parsed;
}
