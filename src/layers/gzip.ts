// Deterministic layer compression: the same tar always becomes the same gzip bytes, on every
// machine and Node version, so a layer's digest can be regenerated anywhere from its tar (what
// layer deltas rely on: a site rebuilds the tar, compresses it, and must get the publisher's digest).
//
// How: fflate (pure JavaScript, so no CPU-specific code paths — native zlib forks such as Node's
// use hardware-accelerated hashing whose output differs between machines), level 6, gzip header
// with mtime 0 and no file name, and the input fed in fixed 1 MiB pieces with the last piece
// marked final. fflate's output depends on how its input is cut, so the cut is fixed here, never
// left to how a stream happened to deliver bytes. Big layers compress in fflate's worker thread
// (AsyncGzip; same algorithm, same bytes), so the event loop stays free for the registry traffic.
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AsyncGzip, Gzip } from 'fflate';

/** Everything that determines the compressed bytes; recorded beside deltas so a site can check it has the same. */
export const LAYER_GZIP = Object.freeze({
  format: 'gzip',
  implementation: 'fflate@0.8.3',
  level: 6,
  chunkBytes: 1024 * 1024,
  mtime: 0,
});

export type LayerGzipParameters = typeof LAYER_GZIP;

/** True when `recorded` (e.g. read from a delta artifact) names exactly arbor's compressor. */
export function sameLayerGzip(recorded: unknown): boolean {
  if (!recorded || typeof recorded !== 'object') return false;
  const r = recorded as Record<string, unknown>;
  return (Object.keys(LAYER_GZIP) as (keyof LayerGzipParameters)[]).every((k) => r[k] === LAYER_GZIP[k]);
}

interface Compressor {
  push(chunk: Uint8Array, final: boolean): void;
}

/**
 * A Transform from tar bytes to gzip bytes, deterministic (see the file comment). The input is
 * hashed too: `diffId` (sha256 of the tar) and `size` are set once the stream has ended.
 */
export class LayerGzip extends Transform {
  private readonly inputHash: Hash = createHash('sha256');
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private compressor: Compressor | undefined;
  private worker: AsyncGzip | undefined;
  private finishing: TransformCallback | undefined;
  private failed = false;
  /** Uncompressed bytes seen. */
  uncompressedSize = 0;
  /** `sha256:…` of the uncompressed input, once ended. */
  diffId: string | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.inputHash.update(chunk);
    this.uncompressedSize += chunk.length;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    // Keep one whole piece back: only at the end is it known whether a piece is the last one.
    while (this.pendingBytes > LAYER_GZIP.chunkBytes) this.pushPiece(this.takePiece(), false);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.diffId = `sha256:${this.inputHash.digest('hex')}`;
    this.finishing = callback;
    this.pushPiece(this.takePiece(), true);
    // The synchronous compressor has delivered everything by now; the worker calls back later.
    if (!this.worker) {
      this.finishing = undefined;
      callback();
    }
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.worker?.terminate();
    callback(error);
  }

  /** The next piece of exactly chunkBytes (or what is left at the end), as a fresh copy. */
  private takePiece(): Uint8Array {
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending);
    const size = Math.min(LAYER_GZIP.chunkBytes, all.length);
    // A copy: the worker takes ownership of (transfers) the buffer it is given.
    const piece = Uint8Array.prototype.slice.call(all, 0, size);
    const rest = all.subarray(size);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return piece;
  }

  private pushPiece(piece: Uint8Array, final: boolean): void {
    if (!this.compressor) {
      const options = { level: LAYER_GZIP.level, mtime: LAYER_GZIP.mtime };
      if (final) {
        // The whole layer is one piece: compress it here, a worker would cost more than the work.
        this.compressor = new Gzip(options, (data) => this.push(Buffer.from(data)));
      } else {
        this.worker = new AsyncGzip(options, (error, data, last) => this.fromWorker(error, data, last));
        this.compressor = this.worker;
      }
    }
    this.compressor.push(piece, final);
  }

  private fromWorker(error: Error | null, data: Uint8Array, last: boolean): void {
    if (this.failed) return;
    if (error) {
      this.failed = true;
      this.destroy(error);
      return;
    }
    this.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    if (last) {
      const done = this.finishing;
      this.finishing = undefined;
      this.worker = undefined;
      done?.();
    }
  }
}

/** sha256 and size of the bytes passing through, unchanged. */
export class Digester extends Transform {
  private readonly hash: Hash = createHash('sha256');
  size = 0;
  digest: string | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.digest = `sha256:${this.hash.digest('hex')}`;
    callback();
  }
}
