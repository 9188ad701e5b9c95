// Reads an image archive as a stream — `docker save` (Docker's format, with `manifest.json`; from
// Docker 25 on the same file also is an OCI layout) and OCI layout tars (buildx `type=oci`,
// bundles) — keeping small JSON entries in memory and writing layer tars to files while hashing
// them, so nothing big is ever held in memory. Entry order does not matter: docker 20.10 writes
// its layer directories in lexical order and `manifest.json` near the end.
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { join, posix } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { Digester, LayerGzip } from '../../layers/gzip.js';
import type { CompressedLayerFile } from './model.js';

/** Entries up to this size that look like JSON are kept in memory (configs, manifests, index). */
const SMALL_JSON = 16 * 1024 * 1024;

export interface SpooledEntry {
  /** `sha256:…` of the entry's bytes. */
  digest: string;
  size: number;
  /** Where the bytes were written; absent when only hashed (a known layer) or compressed. */
  file?: string;
  /** The bytes compressed as arbor publishes layers (ReadArchiveOptions.compressInto). */
  compressed?: CompressedLayerFile;
}

export interface ArchiveContents {
  /** Small JSON-ish entries by name. */
  small: Map<string, Buffer>;
  /** Every other regular file by name. */
  spooled: Map<string, SpooledEntry>;
  /**
   * Symbolic links, by name → the name they point to (resolved within the archive): docker save
   * writes a layer that appears twice once, the second time as a link to the first.
   */
  links: Map<string, string>;
}

export interface ReadArchiveOptions {
  workDir: string;
  /**
   * Layers the caller has (ExportOptions.known: uncompressed size → diffIDs). An entry of such a
   * size is hashed as it streams past and, when its hash is one of them, neither written nor
   * compressed. An entry of a known size but another hash (sizes of tiny layers collide: every
   * empty-directory layer is 1,536 bytes) is written after all when it is small enough to have
   * been kept in memory meanwhile; a bigger one is left without bytes (the caller exports again).
   */
  known?: ReadonlyMap<number, ReadonlySet<string>>;
  /** Layer tars (by name: `…/layer.tar`) are compressed into this directory instead (ExportOptions.compressInto). */
  compressInto?: string;
}

/** An entry's bytes as a stream (a tar-stream entry, or bytes kept in memory). */
type Entry = Readable;

/** Entries of a known size up to this size are kept in memory while hashed, in case they are not known after all. */
const KEEP_WHILE_HASHING = 4 * 1024 * 1024;

/** docker save (before Docker 25) names each layer `<id>/layer.tar`: known to be a layer as it streams. */
const isLayerTar = (name: string) => name.endsWith('/layer.tar');

function isSmallJson(name: string, size: number): boolean {
  if (size > SMALL_JSON) return false;
  return (
    name.endsWith('.json') ||
    name === 'repositories' ||
    name === 'oci-layout' ||
    name.endsWith('/json') ||
    name.endsWith('/VERSION')
  );
}

export async function readImageArchive(
  stream: Readable,
  options: ReadArchiveOptions,
): Promise<ArchiveContents> {
  const small = new Map<string, Buffer>();
  const spooled = new Map<string, SpooledEntry>();
  const links = new Map<string, string>();
  const extract = tar.extract();
  let counter = 0;
  const done = pipeline(stream, extract);
  for await (const entry of extract) {
    const { name, type } = entry.header;
    const size = entry.header.size ?? 0;
    const clean = name.replace(/^\.\//, '');
    if (type === 'symlink' && entry.header.linkname) {
      links.set(clean, posix.normalize(posix.join(posix.dirname(clean), entry.header.linkname)));
      entry.resume();
      continue;
    }
    if (type !== 'file' && type !== 'contiguous-file') {
      entry.resume();
      continue;
    }
    if (isSmallJson(clean, size)) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      small.set(clean, Buffer.concat(chunks));
      continue;
    }
    const candidates = options.known?.get(size);
    if (candidates) {
      const hash = createHash('sha256');
      const kept: Buffer[] | undefined = size <= KEEP_WHILE_HASHING ? [] : undefined;
      for await (const chunk of entry) {
        hash.update(chunk as Buffer);
        kept?.push(chunk as Buffer);
      }
      const digest = `sha256:${hash.digest('hex')}`;
      if (candidates.has(digest) || !kept) spooled.set(clean, { digest, size });
      else spooled.set(clean, await store(clean, Readable.from(kept)));
      continue;
    }
    spooled.set(clean, await store(clean, entry as unknown as Entry));
  }
  await done;
  return { small, spooled, links };

  /** An entry's bytes on disk: a layer compressed (compressInto), anything else as it is. */
  async function store(name: string, bytes: Entry): Promise<SpooledEntry> {
    if (options.compressInto && isLayerTar(name)) {
      const file = join(options.compressInto, `${randomUUID()}.tar.gz`);
      const gzip = new LayerGzip();
      const digester = new Digester();
      await pipeline(bytes, gzip, digester, createWriteStream(file));
      return {
        digest: gzip.diffId!,
        size: gzip.uncompressedSize,
        compressed: { file, digest: digester.digest!, size: digester.size },
      };
    }
    const file = join(options.workDir, `entry-${counter++}`);
    const hash = createHash('sha256');
    let size = 0;
    bytes.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      size += chunk.length;
    });
    await pipeline(bytes, createWriteStream(file));
    return { digest: `sha256:${hash.digest('hex')}`, size, file };
  }
}

/** The entry a name stands for, following links (a few hops at most). */
export function resolveEntry(contents: ArchiveContents, name: string): string {
  let current = name;
  for (let hop = 0; hop < 8 && contents.links.has(current); hop++) current = contents.links.get(current)!;
  return current;
}
