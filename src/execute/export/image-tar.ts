// Reads an image archive as a stream — `docker save` (Docker's format, with `manifest.json`; from
// Docker 25 on the same file also is an OCI layout) and OCI layout tars (buildx `type=oci`,
// bundles) — keeping small JSON entries in memory and writing layer tars to files while hashing
// them, so nothing big is ever held in memory. Entry order does not matter: docker 20.10 writes
// its layer directories in lexical order and `manifest.json` near the end.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';

/** Entries up to this size that look like JSON are kept in memory (configs, manifests, index). */
const SMALL_JSON = 16 * 1024 * 1024;

export interface SpooledEntry {
  /** `sha256:…` of the entry's bytes. */
  digest: string;
  size: number;
  /** Where the bytes were written; absent when only hashed (a known layer). */
  file?: string;
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
  /** Entries of these sizes are hashed only, not written (see ExportOptions.known). */
  hashOnlySizes?: ReadonlySet<number>;
}

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
    const hash = createHash('sha256');
    if (options.hashOnlySizes?.has(size)) {
      for await (const chunk of entry) hash.update(chunk as Buffer);
      spooled.set(clean, { digest: `sha256:${hash.digest('hex')}`, size });
      continue;
    }
    const file = join(options.workDir, `entry-${counter++}`);
    entry.on('data', (chunk: unknown) => hash.update(chunk as Buffer));
    await pipeline(entry, createWriteStream(file));
    spooled.set(clean, { digest: `sha256:${hash.digest('hex')}`, size, file });
  }
  await done;
  return { small, spooled, links };
}

/** The entry a name stands for, following links (a few hops at most). */
export function resolveEntry(contents: ArchiveContents, name: string): string {
  let current = name;
  for (let hop = 0; hop < 8 && contents.links.has(current); hop++) current = contents.links.get(current)!;
  return current;
}
