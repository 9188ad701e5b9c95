// Blobs on the wire. Downloads are streams (a layer is never held in memory whole), resumable
// with Range; uploads are one POST + PUT for small blobs and POST + PATCH chunks + PUT for big
// ones, continued from the offset the registry reports after a failure (never blindly), or
// started again from the first byte when the registry lost the session.

import { Readable } from 'node:stream';
import { formatBytes } from '../format-bytes.js';
import { describeRef, pullScope, pushScope, type RegistryContext, repoPath } from './context.js';
import { isRestartable, RegistryError } from './errors.js';
import { unexpected } from './response.js';
import { backoffDelay, sleep } from './transport/backoff.js';
import { header, type RegistryResponse } from './transport/types.js';
import { UNREADABLE_STATUS } from './unreadable.js';

/**
 * What to upload: bytes, a stream (one attempt only), a function opening the stream afresh for
 * every attempt (so a failed session can start over), or a source that opens at any offset (so an
 * upload continues where the registry says it stopped, without reading the head again).
 */
export type BlobSource = Buffer | Readable | (() => Promise<Readable> | Readable) | SeekableSource;

export interface BlobStream {
  stream: Readable;
  /** Content-Length of this answer (the rest of the blob for a ranged GET). */
  size: number;
  /** The whole body, when it was asked for buffered. */
  bytes?: Buffer;
}

/**
 * The blob's size in the repository, or null when the repository cannot serve it: absent (404),
 * or unreadable (500 after the client's retries, registry/unreadable.ts: distribution answers
 * that for a blob whose repository link a crash left empty). Callers ask to decide whether to
 * send the blob (or whether a delta's base is there); sending or mounting it again writes the
 * link again and repairs it.
 */
export async function headBlob(
  ctx: RegistryContext,
  repository: string,
  digest: string,
): Promise<{ size: number } | null> {
  const reference = describeRef(ctx.registry, repository, digest);
  const response = await ctx.send({
    method: 'HEAD',
    url: repoPath(repository, 'blobs', digest),
    scope: pullScope(repository),
    reference,
    idempotent: true,
  });
  await response.body.dump();
  if (response.status === 404 || response.status === UNREADABLE_STATUS) return null;
  if (response.status !== 200 && response.status !== 307) throw await unexpected(response, reference);
  return { size: Number(header(response, 'content-length') ?? Number.NaN) };
}

const MAX_REDIRECTS = 5;
const REDIRECTS = [301, 302, 303, 307, 308];

/**
 * GETs a blob as a stream, following redirects to storage (without the registry's credentials).
 * `buffer` reads a small blob whole inside the request (a cut body is then retried); `offset`
 * asks for the bytes from there on (`Range`), to continue a download that broke.
 */
export async function getBlob(
  ctx: RegistryContext,
  repository: string,
  digest: string,
  options: { buffer?: number; offset?: number } = {},
): Promise<BlobStream> {
  const reference = describeRef(ctx.registry, repository, digest);
  let url = repoPath(repository, 'blobs', digest);
  let response: RegistryResponse | undefined;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const target = new URL(url, ctx.baseUrl);
    response = await ctx.send({
      method: 'GET',
      url,
      scope: pullScope(repository),
      reference,
      idempotent: true,
      anonymous: target.origin !== ctx.baseUrl.origin,
      ...(options.offset ? { headers: { range: `bytes=${options.offset}-` } } : {}),
      ...(options.buffer !== undefined ? { buffer: options.buffer } : {}),
    });
    const location = header(response, 'location');
    if (!REDIRECTS.includes(response.status) || !location) break;
    await response.body.dump();
    url = new URL(location, response.url).href;
  }
  if (!response || REDIRECTS.includes(response.status))
    throw new RegistryError(reference, `more than ${MAX_REDIRECTS} redirects`);
  const expected = options.offset ? 206 : 200;
  if (response.status !== expected) {
    if (options.offset && response.status === 200) {
      await response.body.dump();
      throw new RegistryError(reference, 'registry ignored the Range of a resumed download', {
        code: 'NO_RANGE',
      });
    }
    throw await unexpected(response, reference);
  }
  const size = Number(header(response, 'content-length'));
  return {
    stream: response.body,
    size: Number.isFinite(size) ? size : Number.NaN,
    ...(response.bytes ? { bytes: response.bytes } : {}),
  };
}

/** GETs a small blob (an image config) whole. */
export async function getBlobBytes(
  ctx: RegistryContext,
  repository: string,
  digest: string,
  limit: number,
): Promise<Buffer> {
  const { bytes } = await getBlob(ctx, repository, digest, { buffer: limit });
  return bytes ?? Buffer.alloc(0);
}

/** POST …/blobs/uploads/: opens an upload session; returns its absolute URL. */
export async function startUpload(
  ctx: RegistryContext,
  repository: string,
  reference: string,
): Promise<string> {
  const response = await ctx.send({
    method: 'POST',
    url: repoPath(repository, 'blobs', 'uploads/'),
    headers: { 'content-length': '0' },
    scope: pushScope(repository),
    reference,
    idempotent: false,
  });
  if (response.status !== 202) throw await unexpected(response, reference);
  await response.body.dump();
  return sessionLocation(response, reference);
}

export function sessionLocation(response: RegistryResponse, reference: string): string {
  const location = header(response, 'location');
  if (!location) throw new RegistryError(reference, 'registry answered an upload without a Location');
  return new URL(location, response.url).href;
}

/** A source that can be opened at any offset: a file, a buffer, a registry blob (Range). */
export interface SeekableSource {
  open(offset: number): Promise<Readable> | Readable;
  /**
   * Opened before the upload session, so that it answers while the target opens the session (a
   * blob fetched from another registry). Only for a source whose stream starts nothing, and so
   * can fail nothing, before it is read: others (a bundle's verified entry) are opened after.
   */
  readonly openEarly?: boolean;
}

function isSeekable(source: BlobSource): source is SeekableSource {
  return typeof source === 'object' && source !== null && !Buffer.isBuffer(source) && 'open' in source;
}

/** The bytes from `offset` on; a source without offsets is read from its start and the head skipped. */
async function openAt(source: BlobSource, offset: number): Promise<Buffer | Readable> {
  if (Buffer.isBuffer(source)) return source.subarray(offset);
  if (isSeekable(source)) return await source.open(offset);
  const stream = typeof source === 'function' ? await source() : source;
  return offset === 0 ? stream : skipBytes(stream, offset);
}

function skipBytes(stream: Readable, count: number): Readable {
  let left = count;
  return Readable.from(
    (async function* () {
      for await (const data of stream) {
        const chunk = data as Buffer;
        if (left >= chunk.length) {
          left -= chunk.length;
          continue;
        }
        yield left > 0 ? chunk.subarray(left) : chunk;
        left = 0;
      }
    })(),
  );
}

function canReopen(source: BlobSource): boolean {
  return Buffer.isBuffer(source) || typeof source === 'function' || isSeekable(source);
}

export interface UploadOptions {
  /** An upload URL already opened (e.g. by a mount the registry declined). */
  session?: string;
}

/**
 * Uploads a blob: one PUT for a blob up to the chunk size, else PATCH chunks and a closing PUT.
 * When a request fails on the way, the session's status is asked (`GET` on its last Location):
 * a registry that kept the data says how far it got (`Range: 0-N`) and the upload continues from
 * N + 1, re-opening the source there; a session the registry no longer knows (distribution
 * invalidates one whose last chunk arrived in part) starts over with a new one. Never blindly: the
 * offset is always the registry's. A commit refused because another client stored the same blob
 * meanwhile counts as done once a HEAD shows the blob is there.
 */
export async function uploadBlob(
  ctx: RegistryContext,
  repository: string,
  digest: string,
  source: BlobSource,
  size: number,
  options: UploadOptions = {},
): Promise<number> {
  const reference = describeRef(ctx.registry, repository, digest);
  // Bytes the registry accepted for this blob (a restarted session's lost chunks included).
  let accepted = 0;
  const counting: RegistryContext = {
    ...ctx,
    uploaded: (bytes) => {
      accepted += bytes;
      ctx.uploaded(bytes);
    },
  };
  // A source that must be fetched (another registry's blob) is opened before the session, and
  // answers while the target opens it.
  let early = isSeekable(source) && source.openEarly ? await source.open(0) : undefined;
  let location: string;
  try {
    location = options.session ?? (await startUploadRetrying(ctx, repository, reference));
  } catch (e) {
    early?.destroy();
    throw e;
  }
  let offset = 0;
  // Sessions the registry dropped after taking part of the blob: the upload started over.
  const lost: number[] = [];
  for (let attempt = 0; ; attempt++) {
    let body: Buffer | Readable | undefined;
    try {
      body = early ?? (await openAt(source, offset));
      early = undefined;
      if (offset === 0 && size <= ctx.chunkSize) {
        await sendWhole(counting, repository, reference, location, digest, body, size);
      } else {
        const progress = { location, offset };
        try {
          await sendChunks(counting, repository, reference, progress, digest, body);
        } finally {
          ({ location, offset } = progress);
        }
      }
      return accepted;
    } catch (e) {
      if (body && !Buffer.isBuffer(body)) body.destroy();
      if (await blobArrived(ctx, repository, digest, size)) return accepted;
      // A commit whose bytes do not hash to the digest (a resumed session that lost or repeated
      // bytes on the way) is started over, never accepted.
      const corrupt = e instanceof RegistryError && e.code === 'DIGEST_INVALID';
      if ((!isRestartable(e) && !corrupt) || attempt >= ctx.retries || !canReopen(source))
        throw lost.length > 0 ? startedOverError(e, lost, size) : e;
      if (corrupt) {
        location = await startUploadRetrying(ctx, repository, reference);
        offset = 0;
        continue;
      }
      await sleep(backoffDelay(attempt, ctx.backoff));
      const status = await uploadStatus(ctx, repository, reference, location);
      if (status && status.offset <= size) {
        location = status.location;
        offset = status.offset;
      } else {
        lost.push(offset);
        location = await startUploadRetrying(ctx, repository, reference);
        offset = 0;
      }
    }
  }
}

/**
 * The last failure of an upload that kept starting over, with why: distribution keeps nothing of a
 * session whose chunk arrived in part, so a link that breaks before each blob is through can never
 * carry it, however often it is tried. The error itself is kept (its status, and whether a caller
 * may start the whole step again); only its message says more.
 */
function startedOverError(last: unknown, lost: number[], size: number): unknown {
  if (!(last instanceof Error)) return last;
  last.message += `; the upload started over ${lost.length} time(s), having reached at most ${formatBytes(Math.max(...lost))} of ${formatBytes(size)} (the registry drops a session whose chunk is cut): mend the link, or carry the release as a bundle (arbor bundle)`;
  return last;
}

/** POST with the same patience as the rest of the upload: a refused session start is tried again. */
function startUploadRetrying(ctx: RegistryContext, repository: string, reference: string): Promise<string> {
  return sessionStartRetrying(ctx, () => startUpload(ctx, repository, reference));
}

/**
 * A POST that opens an upload session (plain, or a mount that may open one), tried again on a
 * lost connection, 429 or 5xx like idempotent requests: the transport does not retry POSTs, and
 * a session opened by a lost attempt is only abandoned, never used.
 */
export async function sessionStartRetrying<T>(ctx: RegistryContext, start: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await start();
    } catch (e) {
      if (!isRestartable(e) || attempt >= ctx.retries) throw e;
      await sleep(backoffDelay(attempt, ctx.backoff));
    }
  }
}

/**
 * How far the registry got with an upload session: its Location and the next offset, or null
 * when it no longer knows the session (404, or distribution's BLOB_UPLOAD_INVALID).
 */
export async function uploadStatus(
  ctx: RegistryContext,
  repository: string,
  reference: string,
  location: string,
): Promise<{ location: string; offset: number } | null> {
  let response: RegistryResponse;
  try {
    response = await ctx.send({
      method: 'GET',
      url: location,
      scope: pushScope(repository),
      reference,
      idempotent: true,
    });
  } catch (e) {
    if (isRestartable(e)) return null;
    throw e;
  }
  await response.body.dump();
  if (response.status !== 204 && response.status !== 200) return null;
  const range = /^(?:bytes=)?0-(\d+)$/.exec(header(response, 'range') ?? '');
  const next = header(response, 'location');
  // `0-0` is what distribution answers for a session with no data yet, and also what one byte
  // would look like: read as 0. Resuming too early is refused by the registry (416) and costs a
  // restart; resuming one byte too late would corrupt the blob.
  const last = range ? Number(range[1]) : 0;
  return {
    location: next ? new URL(next, response.url).href : location,
    offset: last > 0 ? last + 1 : 0,
  };
}

/** The blob is there (uploaded by someone else meanwhile, or our commit landed but its answer was lost). */
async function blobArrived(
  ctx: RegistryContext,
  repository: string,
  digest: string,
  size: number,
): Promise<boolean> {
  try {
    const present = await headBlob(ctx, repository, digest);
    return present !== null && (Number.isNaN(present.size) || present.size === size);
  } catch {
    return false;
  }
}

function withDigest(location: string, digest: string): string {
  // Appended, not set through URL.searchParams: that re-encodes the whole query, distribution's
  // long `_state` included, in JavaScript (≈ 0.5 ms an upload in a fresh process).
  const url = new URL(location);
  const param = `digest=${encodeURIComponent(digest)}`;
  url.search = url.search ? `${url.search}&${param}` : `?${param}`;
  return url.href;
}

/** Monolithic: the whole blob in the PUT that closes the session. */
async function sendWhole(
  ctx: RegistryContext,
  repository: string,
  reference: string,
  location: string,
  digest: string,
  body: Buffer | Readable,
  size: number,
): Promise<void> {
  const response = await ctx.send({
    method: 'PUT',
    url: withDigest(location, digest),
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body,
    scope: pushScope(repository),
    reference,
    idempotent: false,
  });
  if (response.status !== 201) throw await unexpected(response, reference);
  await response.body.dump();
  ctx.uploaded(size);
}

/** Splits a source into chunks of at most `size` bytes, holding one chunk in memory at a time. */
export async function* chunksOf(source: Buffer | Readable, size: number): AsyncGenerator<Buffer> {
  if (Buffer.isBuffer(source)) {
    for (let at = 0; at < source.length; at += size) yield source.subarray(at, at + size);
    return;
  }
  let parts: Buffer[] = [];
  let held = 0;
  for await (const data of source) {
    let piece = data as Buffer;
    while (piece.length > 0) {
      const take = Math.min(size - held, piece.length);
      parts.push(piece.subarray(0, take));
      held += take;
      piece = piece.subarray(take);
      if (held === size) {
        yield Buffer.concat(parts);
        parts = [];
        held = 0;
      }
    }
  }
  if (held > 0) yield Buffer.concat(parts);
}

/**
 * Chunked: PATCH each chunk with its Content-Range from `progress.offset` on, then an empty PUT
 * with the digest. `progress` always holds the last Location the registry gave and the offset it
 * acknowledged, so a failure can ask the session where it stands.
 */
async function sendChunks(
  ctx: RegistryContext,
  repository: string,
  reference: string,
  progress: { location: string; offset: number },
  digest: string,
  body: Buffer | Readable,
): Promise<void> {
  for await (const chunk of chunksOf(body, ctx.chunkSize)) {
    const response = await ctx.send({
      method: 'PATCH',
      url: progress.location,
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(chunk.length),
        'content-range': `${progress.offset}-${progress.offset + chunk.length - 1}`,
      },
      body: chunk,
      scope: pushScope(repository),
      reference,
      idempotent: false,
    });
    if (response.status !== 202) throw await unexpected(response, reference);
    await response.body.dump();
    progress.location = sessionLocation(response, reference);
    progress.offset += chunk.length;
    ctx.uploaded(chunk.length);
  }
  const response = await ctx.send({
    method: 'PUT',
    url: withDigest(progress.location, digest),
    headers: { 'content-length': '0' },
    scope: pushScope(repository),
    reference,
    idempotent: false,
  });
  if (response.status !== 201) throw await unexpected(response, reference);
  await response.body.dump();
}
