// The registries.d `lookaside:` layout containers/image reads signatures from:
// `<base>/<repository path>@<algorithm>=<hex>/signature-<n>`, n = 1, 2, … without gaps (a reader
// stops at the first one missing). Written to a directory any static web server can publish;
// read from a directory, a file:// URL or an http(s):// URL.
import { readFileSync } from 'node:fs';
import { link, mkdir, readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Readers stop at the first missing signature; nothing real has this many. */
const MAX_SIGNATURES = 1000;

/** The directory (or URL path) of one manifest's signatures, relative to the lookaside base. */
export function signaturePath(repositoryPath: string, digest: string): string {
  const [algorithm, hex] = digest.split(':');
  return `${repositoryPath}@${algorithm}=${hex}`;
}

export type LookasideBase = { kind: 'dir'; dir: string } | { kind: 'http'; url: string };

/** A directory path, `file://` or `http(s)://` URL. */
export function lookasideBase(location: string): LookasideBase {
  if (/^https?:\/\//.test(location)) return { kind: 'http', url: location.replace(/\/+$/, '') };
  if (location.startsWith('file://')) return { kind: 'dir', dir: fileURLToPath(location) };
  return { kind: 'dir', dir: location };
}

export interface StoredSignature {
  /** 1-based, as in `signature-<n>`. */
  index: number;
  /** Where it was read, for messages. */
  location: string;
  bytes: Buffer;
}

/** Every signature stored for the manifest, in order. */
export async function readSignatures(
  base: LookasideBase,
  repositoryPath: string,
  digest: string,
): Promise<StoredSignature[]> {
  const found: StoredSignature[] = [];
  for (let index = 1; index <= MAX_SIGNATURES; index++) {
    const signature = await readSignature(base, repositoryPath, digest, index);
    if (!signature) break;
    found.push(signature);
  }
  return found;
}

/** The names of the manifest's signature files in a lookaside directory (none: empty). */
export async function signatureFiles(dir: string, repositoryPath: string, digest: string): Promise<string[]> {
  try {
    const names = await readdir(join(dir, signaturePath(repositoryPath, digest)));
    return names.filter((name) => /^signature-[1-9][0-9]*$/.test(name));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/**
 * How many of `signature-1`, `signature-2`, … a reader finds: containers/image (skopeo, podman,
 * CRI-O) reads them in order and stops at the first one missing, so a file after a gap (an old
 * key's signatures removed by hand) is never seen by anyone.
 */
export function reachableSignatures(names: readonly string[]): number {
  const present = new Set(names);
  let count = 0;
  while (present.has(`signature-${count + 1}`)) count++;
  return count;
}

/** `signature-<index>` of the manifest, or null when there is none. */
export async function readSignature(
  base: LookasideBase,
  repositoryPath: string,
  digest: string,
  index: number,
): Promise<StoredSignature | null> {
  const bytes = await readLookasideFile(base, `${signaturePath(repositoryPath, digest)}/signature-${index}`);
  return bytes && { index, location: bytes.location, bytes: bytes.bytes };
}

/** A file of the store (a signature, or arbor's record beside them); null when absent. */
export async function readLookasideFile(
  base: LookasideBase,
  relative: string,
): Promise<{ location: string; bytes: Buffer } | null> {
  if (base.kind === 'dir') {
    const location = join(base.dir, relative);
    try {
      // A signature is a few hundred bytes: read at once, it costs a few microseconds; through
      // the thread pool (open, stat, read, close, each a round trip) it was most of a release's
      // verification CPU outside the crypto.
      return { location, bytes: readFileSync(location) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }
  const location = `${base.url}/${relative}`;
  const response = await fetch(location).catch((e: unknown) => {
    // fetch says only "fetch failed"; the cause says why (refused, unknown host, TLS).
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`GET ${location}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
  });
  if (response.status === 404) return null;
  if (!response.ok) throw new Error(`GET ${location}: HTTP ${response.status}`);
  return { location, bytes: Buffer.from(await response.arrayBuffer()) };
}

/**
 * Stores signatures after the ones present, each under the first free `signature-<n>`. Each is
 * written to a temporary file and hard-linked into place: a reader never sees half a signature,
 * and a name already taken (another writer at the same moment) is never overwritten.
 */
export async function appendSignatures(
  dir: string,
  repositoryPath: string,
  digest: string,
  signatures: Buffer[],
): Promise<string[]> {
  const folder = join(dir, signaturePath(repositoryPath, digest));
  await mkdir(folder, { recursive: true });
  const written: string[] = [];
  let index = 1;
  for (const bytes of signatures) {
    const temporary = join(folder, `.signature-${process.pid}-${Date.now()}-${written.length}`);
    await writeFile(temporary, bytes, { mode: 0o644 });
    try {
      for (; index <= MAX_SIGNATURES; index++) {
        const file = join(folder, `signature-${index}`);
        try {
          await link(temporary, file);
          written.push(file);
          index++;
          break;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
      }
    } finally {
      await unlink(temporary);
    }
  }
  return written;
}
