// Content hashes of files: sha256 of the raw bytes (the same as `sha256sum`), consulting the
// file-hash cache first.
//
// How files are read, for speed with bounded memory:
// - small files (most of a build context) are read and hashed synchronously: from the page
//   cache that is a copy and a hash, while a promise round trip through the thread pool per
//   file costs more than the work itself;
// - large files are streamed through a fixed buffer by at most LARGE_FILE_CONCURRENCY readers,
//   so memory stays bounded whatever the file sizes, and their reads overlap the small files.
import { createHash, hash as oneShotHash } from 'node:crypto';
import { type BigIntStats, closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import pLimit, { type LimitFunction } from 'p-limit';
import type { FileHashCache } from './cache.js';

/** Files up to this size are read in one call. */
const WHOLE_FILE_LIMIT = 512 * 1024;
/** Read size for larger files. */
const CHUNK_SIZE = 1024 * 1024;
/** Large files streamed at the same time (each holds one CHUNK_SIZE buffer). */
const LARGE_FILE_CONCURRENCY = 4;

/**
 * One buffer for every synchronous read: allocating a buffer per file (readFileSync) makes the
 * garbage collector the biggest cost of a cold run.
 */
const shared = Buffer.allocUnsafe(WHOLE_FILE_LIMIT);

/** `sha256:<hex>` of a small file's bytes, read synchronously (a file that grew is still read whole). */
export function hashSmallFile(absPath: string): string {
  const fd = openSync(absPath, 'r');
  try {
    let filled = readSync(fd, shared, 0, shared.length, null);
    // A short read of a regular file means end of file.
    if (filled < shared.length) return `sha256:${oneShotHash('sha256', shared.subarray(0, filled), 'hex')}`;
    const hash = createHash('sha256');
    while (filled > 0) {
      hash.update(shared.subarray(0, filled));
      filled = readSync(fd, shared, 0, shared.length, null);
    }
    return `sha256:${hash.digest('hex')}`;
  } finally {
    closeSync(fd);
  }
}

/** `sha256:<hex>` of a file's bytes, streamed in chunks. */
export async function hashLargeFile(absPath: string): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(CHUNK_SIZE);
  const handle = await open(absPath, 'r');
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, CHUNK_SIZE, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return `sha256:${hash.digest('hex')}`;
}

/** `sha256:<hex>` of a file's bytes; `size` chooses between reading at once and streaming. */
export async function hashFile(absPath: string, size: number): Promise<string> {
  return size <= WHOLE_FILE_LIMIT ? hashSmallFile(absPath) : hashLargeFile(absPath);
}

export interface HashStats {
  /** Files actually read. */
  filesRead: number;
  /** Bytes actually read and hashed. */
  bytesRead: number;
  /** Files answered by the cache. */
  cacheHits: number;
}

/** Hashes files through the cache, once per path per run. */
export class FileHasher {
  readonly stats: HashStats = { filesRead: 0, bytesRead: 0, cacheHits: 0 };
  private readonly done = new Map<string, string>();
  private readonly streaming = new Map<string, Promise<string>>();
  private readonly limit: LimitFunction;

  constructor(private readonly cache?: FileHashCache) {
    this.limit = pLimit(LARGE_FILE_CONCURRENCY);
  }

  /**
   * The hash now when it is known or the file is small (cache, earlier in this run, or a
   * synchronous read), else a promise. `stat` must be taken before this call.
   */
  hash(absPath: string, stat: BigIntStats): string | Promise<string> {
    const known = this.done.get(absPath) ?? this.streaming.get(absPath);
    if (known !== undefined) return known;
    const cached = this.cache?.get(absPath, stat);
    if (cached !== undefined) {
      this.stats.cacheHits++;
      this.done.set(absPath, cached);
      return cached;
    }
    const size = Number(stat.size);
    if (size <= WHOLE_FILE_LIMIT) return this.record(absPath, stat, hashSmallFile(absPath));
    const pending = this.limit(() => hashLargeFile(absPath)).then((hash) => {
      this.streaming.delete(absPath);
      return this.record(absPath, stat, hash);
    });
    this.streaming.set(absPath, pending);
    return pending;
  }

  private record(absPath: string, stat: BigIntStats, hash: string): string {
    this.stats.filesRead++;
    this.stats.bytesRead += Number(stat.size);
    this.done.set(absPath, hash);
    this.cache?.set(absPath, stat, hash);
    return hash;
  }
}
