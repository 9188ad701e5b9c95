// Blobs on the wire. Downloads are streams (a layer is never held in memory whole); uploads are
// one POST + PUT for small blobs and POST + PATCH chunks + PUT for big ones. A failed upload
// session is never resumed blindly: it is started again from the first byte, when the source
// can be read again.
import type { Readable } from 'node:stream';
import { describeRef, pullScope, pushScope, type RegistryContext, repoPath } from './context.js';
import { isRestartable, RegistryError } from './errors.js';
import { unexpected } from './response.js';
import { backoffDelay, sleep } from './transport/backoff.js';
import { header, type RegistryResponse } from './transport/types.js';

/**
 * What to upload: bytes, a stream (one attempt only), or a function opening the stream afresh
 * for every attempt (so a failed session can start over).
 */
export type BlobSource = Buffer | Readable | (() => Promise<Readable> | Readable);

export interface BlobStream {
  stream: Readable;
  /** Content-Length of this answer (the rest of the blob for a ranged GET). */
  size: number;
  /** The whole body, when it was asked for buffered. */
  bytes?: Buffer;
}

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
  if (response.status === 404) return null;
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

async function openSource(source: BlobSource): Promise<Buffer | Readable> {
  return typeof source === 'function' ? await source() : source;
}

function canRestart(source: BlobSource): boolean {
  return Buffer.isBuffer(source) || typeof source === 'function';
}

/**
 * Uploads a blob. `session` is an upload URL already opened (e.g. by a mount the registry
 * declined); later attempts open their own.
 */
export async function uploadBlob(
  ctx: RegistryContext,
  repository: string,
  digest: string,
  source: BlobSource,
  size: number,
  options: { session?: string } = {},
): Promise<void> {
  const reference = describeRef(ctx.registry, repository, digest);
  let session = options.session;
  for (let attempt = 0; ; attempt++) {
    let body: Buffer | Readable | undefined;
    try {
      const location = session ?? (await startUpload(ctx, repository, reference));
      session = undefined;
      body = await openSource(source);
      if (size > ctx.chunkSize) await sendChunks(ctx, repository, reference, location, digest, body);
      else await sendWhole(ctx, repository, reference, location, digest, body, size);
      return;
    } catch (e) {
      if (body && !Buffer.isBuffer(body)) body.destroy();
      if (!isRestartable(e) || attempt >= ctx.retries || !canRestart(source)) throw e;
      await sleep(backoffDelay(attempt, ctx.backoff));
    }
  }
}

function withDigest(location: string, digest: string): string {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
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

/** Chunked: PATCH each chunk with its Content-Range, then an empty PUT with the digest. */
async function sendChunks(
  ctx: RegistryContext,
  repository: string,
  reference: string,
  firstLocation: string,
  digest: string,
  body: Buffer | Readable,
): Promise<void> {
  let location = firstLocation;
  let offset = 0;
  for await (const chunk of chunksOf(body, ctx.chunkSize)) {
    const response = await ctx.send({
      method: 'PATCH',
      url: location,
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(chunk.length),
        'content-range': `${offset}-${offset + chunk.length - 1}`,
      },
      body: chunk,
      scope: pushScope(repository),
      reference,
      idempotent: false,
    });
    if (response.status !== 202) throw await unexpected(response, reference);
    await response.body.dump();
    location = sessionLocation(response, reference);
    offset += chunk.length;
    ctx.uploaded(chunk.length);
  }
  const response = await ctx.send({
    method: 'PUT',
    url: withDigest(location, digest),
    headers: { 'content-length': '0' },
    scope: pushScope(repository),
    reference,
    idempotent: false,
  });
  if (response.status !== 201) throw await unexpected(response, reference);
  await response.body.dump();
}
