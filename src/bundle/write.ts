// Writes a bundle: the layout's small files, the blob directories, the manifests and configs from
// memory, then every other blob streamed from the registry straight into the tar (tar-stream with
// sizes known from the manifests, so nothing is held in memory; each download resumes with Range
// and is checked against its digest). The file is written under a temporary name beside the
// target and renamed when complete and synced: a bundle under its final name is always whole.
// `--out -` streams it to standard output instead.
import { createHash, randomBytes } from 'node:crypto';
import { open, readdir, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { type Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { processAlive } from '../process-alive.js';
import type { BundleContent } from './contents.js';
import {
  BLOB_DIRECTORIES,
  blobPath,
  directoryHeader,
  type EntryHeader,
  fileHeader,
  type TocBlob,
} from './format.js';
import type { BundleLayout } from './layout.js';

export interface WriteRequest {
  file: string;
  layout: BundleLayout;
  content: BundleContent;
  /** The bytes of a streamed blob (checked against its digest by whoever opens it). */
  openBlob: (blob: TocBlob) => Readable;
  signal?: AbortSignal;
  onBlob?: (blob: TocBlob) => void;
}

export interface WriteResult {
  file: string;
  bytes: number;
  /** sha256 of the whole file. */
  sha256: string;
}

/**
 * Temporary files of earlier writes of the same bundle on this machine whose process is gone
 * (killed with -9, the machine lost power): a multi-GB bundle would otherwise stay beside the file
 * for good. A file of a process still running (another write of the same name) is left to it.
 */
async function removeAbandoned(dir: string, prefix: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]);
    if (!Number.isInteger(pid) || pid <= 0 || processAlive(pid)) continue;
    await rm(join(dir, name), { force: true }).catch(() => undefined);
  }
}

/** `--out -`: the bundle goes to standard output as it is made (piped to ssh, zstd, a tape). */
export const STDOUT_BUNDLE = '-';

export async function writeBundle(request: WriteRequest): Promise<WriteResult> {
  if (request.file === STDOUT_BUNDLE) {
    // What was written cannot be taken back: a failure leaves the reader a cut tar, which
    // `bundle push` and every tar reader refuse, and this process exits non-zero.
    const streamed = await streamBundle(request, process.stdout, { end: false });
    return { file: request.file, ...streamed };
  }
  const { file } = request;
  // The host is in the name: on a shared file system only this machine's processes can be judged.
  const prefix = `.${basename(file)}.tmp-${hostname().replace(/[^A-Za-z0-9.-]/g, '_')}-`;
  await removeAbandoned(dirname(file), prefix);
  const temp = join(dirname(file), `${prefix}${process.pid}-${randomBytes(4).toString('hex')}`);
  const handle = await open(temp, 'wx');
  try {
    // The stream closes the handle when it ends, or when it fails.
    const streamed = await streamBundle(request, handle.createWriteStream(), { end: true });
    await syncFile(temp);
    await rename(temp, file);
    return { file, ...streamed };
  } catch (e) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw e;
  }
}

/** The bundle's tar into `sink`, in one pass: its bytes and their sha256. */
async function streamBundle(
  request: WriteRequest,
  sink: Writable,
  options: { end: boolean },
): Promise<Omit<WriteResult, 'file'>> {
  const { layout, content } = request;
  const hash = createHash('sha256');
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  const pack = tar.pack();
  const written = pipeline(pack, counter, sink, { end: options.end });
  // Whichever fails first (a download, the disk, the reader of a pipe) stops both sides.
  written.catch((e: unknown) => pack.destroy(e as Error));
  try {
    for (const f of layout.files) await addEntry(pack, fileHeader(f.name, f.bytes.length), f.bytes);
    for (const dir of BLOB_DIRECTORIES) await addEntry(pack, directoryHeader(dir));
    for (const blob of layout.blobs) {
      request.signal?.throwIfAborted();
      const header = fileHeader(blobPath(blob.digest), blob.size);
      if (blob.kind === 'manifest') await addEntry(pack, header, content.manifests.get(blob.digest)!.bytes);
      else if (blob.kind === 'config') await addEntry(pack, header, content.configs.get(blob.digest)!);
      else await addStream(pack, header, request.openBlob(blob), request.signal);
      request.onBlob?.(blob);
    }
    pack.finalize();
    await written;
    return { bytes, sha256: `sha256:${hash.digest('hex')}` };
  } catch (e) {
    pack.destroy();
    await written.catch(() => undefined);
    throw e;
  }
}

/** On disk before it gets its final name (a crash right after the rename must not leave a hole). */
async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function addEntry(pack: tar.Pack, header: EntryHeader, bytes?: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (e?: Error | null) => (e ? reject(e) : resolve());
    if (bytes) pack.entry(header, bytes, done);
    else pack.entry(header, done);
  });
}

/** A blob of known size streamed into its entry; tar-stream refuses a body shorter or longer than the header says. */
async function addStream(
  pack: tar.Pack,
  header: EntryHeader,
  source: Readable,
  signal?: AbortSignal,
): Promise<void> {
  let finish: (e?: Error | null) => void = () => undefined;
  const entryDone = new Promise<void>((resolve, reject) => {
    finish = (e) => (e ? reject(e) : resolve());
  });
  const sink = pack.entry(header, (e) => finish(e));
  await Promise.all([pipeline(source, sink, signal ? { signal } : {}), entryDone]);
}
