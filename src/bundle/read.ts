// Reads a bundle in one forward pass. `openBundle` reads its head — the small files, then every
// manifest and config (checked against their digests) — and stops before the first other blob,
// so a push can be planned and confirmed before the layers are read. `blobs()` then yields the
// remaining blobs one at a time as the file streams past, each checked against its digest at its
// end. A damaged file is one error naming the entry: not a tar, not a bundle, truncated, a blob
// that does not match its name.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { displayPath } from '../display-path.js';
import { type IndexJson, isIndex, parseManifest } from '../registry/manifest-model.js';
import { type BundleContent, type BundledImage, blobsReachable } from './contents.js';
import {
  ANNOTATION_BUNDLE_NAME,
  ANNOTATION_REF_NAME,
  BLOB_DIRECTORIES,
  BundleFormatError,
  type BundleToc,
  blobPath,
  DOCKER_MANIFEST_FILE,
  DOCKER_REPOSITORIES_FILE,
  digestOfPath,
  INDEX_FILE,
  OCI_LAYOUT_FILE,
  parseToc,
  TOC_FILE,
  type TocBlob,
} from './format.js';

/** index.json, arbor-bundle.json and manifest.json are read whole; a bundle of 10,000 images needs a few MiB. */
const SMALL_FILE_LIMIT = 64 * 1024 * 1024;
const HEAD_FILES = new Set([
  OCI_LAYOUT_FILE,
  INDEX_FILE,
  TOC_FILE,
  DOCKER_MANIFEST_FILE,
  DOCKER_REPOSITORIES_FILE,
]);
/** A tar header block: an entry's data starts this far after its header. */
const TAR_BLOCK = 512;

type Entry = tar.Extract extends AsyncIterable<infer E> ? E : never;

export interface BundleHead {
  /** As the user named it, for messages. */
  where: string;
  toc: BundleToc;
  content: BundleContent;
}

export interface StreamedBlob {
  blob: TocBlob;
  /** Where the blob's bytes start in the file (to read a part again, e.g. to resume an upload). */
  offset: number;
  /** Its bytes as they pass; errors at the end when they do not hash to the digest. */
  stream: Readable;
}

export interface OpenBundle {
  head: BundleHead;
  /** The remaining blobs in file order; consume each stream before asking for the next. */
  blobs(): AsyncGenerator<StreamedBlob>;
  close(): void;
}

export async function openBundle(file: string): Promise<OpenBundle> {
  const where = displayPath(file);
  const fileSize = await refuseCompressed(file, where);
  /** An entry whose bytes would run past the end of the file: the file was cut short. */
  const cutShort = (entry: Entry) => fileSize < entry.offset + TAR_BLOCK + (entry.header.size ?? 0);
  const input = createReadStream(file, { highWaterMark: 1024 * 1024 });
  const extract = tar.extract();
  input.on('error', (e) => extract.destroy(e));
  input.pipe(extract);
  const entries = extract[Symbol.asyncIterator]();
  const close = () => {
    input.destroy();
    extract.destroy();
  };
  let current = 'the start of the file';
  const next = async (): Promise<Entry | undefined> => {
    try {
      const r = await entries.next();
      return r.done ? undefined : (r.value as Entry);
    } catch (e) {
      throw readError(e, where, current);
    }
  };
  try {
    const files = new Map<string, Buffer>();
    let entry = await next();
    while (entry && digestOfPath(entry.header.name.replace(/^\.\//, '')) === undefined) {
      const name = entry.header.name.replace(/^\.\//, '');
      current = name;
      if (
        BLOB_DIRECTORIES.includes(name as (typeof BLOB_DIRECTORIES)[number]) &&
        entry.header.type === 'directory'
      ) {
        entry.resume();
      } else if (HEAD_FILES.has(name) && entry.header.type === 'file') {
        files.set(name, await readWhole(entry, SMALL_FILE_LIMIT, where, name, cutShort(entry)));
      } else {
        throw notABundle(where, `unexpected entry ${JSON.stringify(entry.header.name)} before the blobs`);
      }
      entry = await next();
    }
    for (const required of [OCI_LAYOUT_FILE, INDEX_FILE, TOC_FILE])
      if (!files.has(required)) throw notABundle(where, `no ${required} at its start`);
    const toc = parseToc(files.get(TOC_FILE)!, where);
    const small = toc.blobs.filter((b) => b.kind !== 'blob');
    const manifests = new Map<string, Buffer>();
    const configs = new Map<string, Buffer>();
    for (const [i, blob] of small.entries()) {
      current = blobPath(blob.digest);
      if (i > 0) entry = await next();
      expectEntry(entry, blob, where, toc);
      const bytes = await readVerified(entry!, blob, where, SMALL_FILE_LIMIT, cutShort(entry!));
      (blob.kind === 'manifest' ? manifests : configs).set(blob.digest, bytes);
    }
    const content = contentOf(files.get(INDEX_FILE)!, manifests, configs, where);
    checkComplete(content, toc, where);
    // The first streamed blob's entry has been read already (or the head ended the file).
    let pending = small.length > 0 ? undefined : entry;
    const streamed = toc.blobs.filter((b) => b.kind === 'blob');
    const blobsFrom = pending
      ? pending.offset
      : entry
        ? entry.offset + TAR_BLOCK + padded(entry.header.size ?? 0)
        : fileSize;
    refuseCutShort(streamed, blobsFrom, fileSize, where, toc);
    return {
      head: { where, toc, content },
      close,
      async *blobs() {
        try {
          for (const blob of streamed) {
            current = blobPath(blob.digest);
            const e = pending ?? (await next());
            pending = undefined;
            expectEntry(e, blob, where, toc);
            const stream = Readable.from(verified(e!, blob, where, current, cutShort(e!)), {
              objectMode: false,
            });
            yield { blob, offset: e!.offset + TAR_BLOCK, stream };
            if (!stream.readableEnded && !stream.destroyed) await drained(stream);
          }
          const extra = await next();
          if (extra)
            throw notABundle(
              where,
              `unexpected entry ${JSON.stringify(extra.header.name)} after its last blob`,
            );
        } finally {
          close();
        }
      },
    };
  } catch (e) {
    close();
    throw e;
  }
}

/** Refuses compressed and empty files; returns the size. */
async function refuseCompressed(file: string, where: string): Promise<number> {
  const handle = await open(file, 'r').catch((e: NodeJS.ErrnoException) => {
    throw new BundleFormatError(`${where}: cannot read the bundle (${e.code})`);
  });
  try {
    const { buffer, bytesRead } = await handle
      .read(Buffer.alloc(4), 0, 4, 0)
      .catch((e: NodeJS.ErrnoException) => {
        // A directory opens, and fails only when read.
        throw new BundleFormatError(
          `${where}: cannot read the bundle (${e.code === 'EISDIR' ? 'a directory' : e.code})`,
        );
      });
    if (bytesRead >= 2 && buffer[0] === 0x1f && buffer[1] === 0x8b)
      throw new BundleFormatError(
        `${where}: the file is gzip-compressed; a bundle is a plain tar (gunzip it first)`,
      );
    if (bytesRead >= 4 && buffer.readUInt32LE(0) === 0xfd2fb528)
      throw new BundleFormatError(
        `${where}: the file is zstd-compressed; a bundle is a plain tar (decompress it first)`,
      );
    if (bytesRead === 0) throw new BundleFormatError(`${where}: the file is empty, not a bundle`);
    return (await handle.stat()).size;
  } finally {
    await handle.close();
  }
}

function notABundle(where: string, why: string): BundleFormatError {
  return new BundleFormatError(`${where}: not an arbor bundle: ${why}`);
}

/** tar-stream's errors in the bundle's terms. */
function readError(e: unknown, where: string, current: string): Error {
  if (e instanceof BundleFormatError) return e;
  const message = e instanceof Error ? e.message : String(e);
  if (/Unexpected end of data/.test(message)) return truncatedInside(where, current);
  if (/Invalid tar header|unknown format|Invalid header/i.test(message))
    return new BundleFormatError(`${where}: not a tar archive (at ${current}: ${message})`);
  return e instanceof Error ? e : new Error(message);
}

function padded(size: number): number {
  return Math.ceil(size / TAR_BLOCK) * TAR_BLOCK;
}

/**
 * A file cut short is found from its table of contents before any blob is read (and so before a
 * push uploads anything): each blob takes at least a header and its bytes, from `from` on. The
 * sum is a lower bound (the writer may add entries), so a whole file is never taken for cut.
 */
function refuseCutShort(
  blobs: TocBlob[],
  from: number,
  fileSize: number,
  where: string,
  toc: BundleToc,
): void {
  let at = from;
  for (const blob of blobs) {
    if (at + TAR_BLOCK > fileSize) expectEntry(undefined, blob, where, toc);
    if (at + TAR_BLOCK + blob.size > fileSize) throw truncatedInside(where, blobPath(blob.digest));
    at += TAR_BLOCK + padded(blob.size);
  }
}

function truncatedInside(where: string, name: string): BundleFormatError {
  return new BundleFormatError(`${where}: truncated: the file ends inside ${name}`);
}

function expectEntry(entry: Entry | undefined, blob: TocBlob, where: string, toc: BundleToc): void {
  const name = blobPath(blob.digest);
  const at = toc.blobs.indexOf(blob) + 1;
  if (!entry)
    throw new BundleFormatError(
      `${where}: truncated: the file ends before ${name} (blob ${at} of ${toc.blobs.length})`,
    );
  if (entry.header.name.replace(/^\.\//, '') !== name)
    throw new BundleFormatError(
      `${where}: entry ${JSON.stringify(entry.header.name)} where ${TOC_FILE} lists ${name} (blob ${at} of ${toc.blobs.length})`,
    );
  if (entry.header.size !== blob.size)
    throw new BundleFormatError(
      `${where}: ${name} has ${entry.header.size} bytes, ${TOC_FILE} says ${blob.size}`,
    );
}

async function readWhole(
  entry: Entry,
  limit: number,
  where: string,
  name: string,
  cutShort: boolean,
): Promise<Buffer> {
  if ((entry.header.size ?? 0) > limit)
    throw new BundleFormatError(`${where}: ${name} is larger than ${limit} bytes`);
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of entry) chunks.push(chunk as Buffer);
  } catch (e) {
    throw cutShort ? truncatedInside(where, name) : readError(e, where, name);
  }
  return Buffer.concat(chunks);
}

async function readVerified(
  entry: Entry,
  blob: TocBlob,
  where: string,
  limit: number,
  cutShort: boolean,
): Promise<Buffer> {
  const bytes = await readWhole(entry, limit, where, blobPath(blob.digest), cutShort);
  const got = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (got !== blob.digest) throw tampered(where, blob, got);
  return bytes;
}

function tampered(where: string, blob: TocBlob, got: string): BundleFormatError {
  return new BundleFormatError(
    `${where}: ${blobPath(blob.digest)} does not match its digest (its bytes hash to ${got}): the bundle is damaged or was altered`,
  );
}

/** The entry's bytes, then an error unless they hashed to the blob's digest. */
async function* verified(
  entry: Entry,
  blob: TocBlob,
  where: string,
  current: string,
  cutShort: boolean,
): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of entry) {
      hash.update(chunk as Buffer);
      yield chunk as Buffer;
    }
  } catch (e) {
    // tar-stream reports a cut file as "Unexpected end of data" or, racing it, a destroyed stream.
    throw cutShort ? truncatedInside(where, current) : readError(e, where, current);
  }
  const got = `sha256:${hash.digest('hex')}`;
  if (got !== blob.digest) throw tampered(where, blob, got);
}

/** Reads what the consumer left, so the file moves on (the bytes still count for the digest check). */
async function drained(stream: Readable): Promise<void> {
  for await (const _ of stream) {
    // discarded
  }
}

/** The images (index.json entries named by arbor) and referrers (manifests with a subject in the bundle). */
function contentOf(
  indexBytes: Buffer,
  manifestBytes: Map<string, Buffer>,
  configs: Map<string, Buffer>,
  where: string,
): BundleContent {
  let index: IndexJson;
  try {
    const parsed = parseManifest(indexBytes, `${where}: ${INDEX_FILE}`);
    if (!isIndex(parsed.json)) throw new Error('not an image index');
    index = parsed.json;
  } catch (e) {
    throw new BundleFormatError(`${where}: ${INDEX_FILE}: ${(e as Error).message}`);
  }
  const manifests: BundleContent['manifests'] = new Map();
  for (const [digest, bytes] of manifestBytes) {
    try {
      const { mediaType, json } = parseManifest(bytes, `${where}: ${blobPath(digest)}`);
      manifests.set(digest, { digest, mediaType, bytes, json });
    } catch (e) {
      throw new BundleFormatError((e as Error).message);
    }
  }
  const images = new Map<string, BundledImage>();
  for (const d of index.manifests) {
    const name = d.annotations?.[ANNOTATION_BUNDLE_NAME];
    if (name === undefined) continue;
    if (!manifests.has(d.digest))
      throw new BundleFormatError(
        `${where}: ${INDEX_FILE} names ${name} at ${d.digest}, which the bundle lacks`,
      );
    const ref = d.annotations?.[ANNOTATION_REF_NAME];
    const tag = ref?.startsWith(`${name}:`) ? ref.slice(name.length + 1) : undefined;
    const key = `${name}@${d.digest}`;
    const image = images.get(key) ?? {
      name,
      source: { registry: '', repository: name },
      tags: [],
      digest: d.digest,
    };
    if (tag !== undefined && !image.tags.includes(tag)) image.tags.push(tag);
    images.set(key, image);
  }
  const referrers: BundleContent['referrers'] = new Map();
  for (const m of manifests.values()) {
    const subject = m.json.subject?.digest;
    if (!subject || !manifests.has(subject)) continue;
    referrers.set(subject, [...(referrers.get(subject) ?? []), m.digest].sort());
  }
  return { images: [...images.values()], manifests, configs, referrers };
}

/** Every blob an image needs is in the file or listed as left out (an update bundle). */
function checkComplete(content: BundleContent, toc: BundleToc, where: string): void {
  if (content.images.length === 0) throw notABundle(where, `${INDEX_FILE} names no image`);
  const inFile = new Set(toc.blobs.map((b) => b.digest));
  const omitted = new Set(toc.since?.omitted.map((b) => b.digest) ?? []);
  for (const m of content.manifests.values())
    if (isIndex(m.json))
      for (const child of m.json.manifests)
        if (!content.manifests.has(child.digest))
          throw new BundleFormatError(
            `${where}: index ${m.digest} lists ${child.digest}, which the bundle lacks`,
          );
  for (const image of content.images)
    for (const blob of blobsReachable(content, image.digest))
      if (!inFile.has(blob.digest) && !omitted.has(blob.digest))
        throw new BundleFormatError(
          `${where}: ${blobPath(blob.digest)} (${blob.kind} of ${image.name}) is neither in the bundle nor listed as left out`,
        );
}
