// The file-hash cache: a file whose path, size, mtime, ctime and inode are unchanged since it was
// hashed is not read again, which makes a warm `arbor fingerprint` cost a stat per file.
//
// Trust rules (a wrong hash here would be a wrong fingerprint, so the cache is only a hint):
// - The file is `<config root>/.arbor/cache/file-hashes.json`: a header line (format, version,
//   host name, sha256 of the body) and a body line (the entries). A cache that fails to parse,
//   is truncated (checksum mismatch), has another version, or was written on another host
//   (inode numbers mean nothing there) is ignored entirely and rebuilt, never partly trusted.
// - Entries hold nanosecond mtime and ctime (`stat(..., { bigint: true })`): ctime catches a
//   content change whose mtime was put back (`touch -d`, `cp -p`, `rsync -t`).
// - "Racily clean" files, as git calls them: a file written in the same timestamp tick as it was
//   read can be written again in that tick, after the read, and keep size, times and inode while
//   its content changes. So every entry records when it was made (`recordedNs`: a moment before
//   its file was read), and an entry is trusted only while its file's mtime and ctime are older
//   than that moment by more than the filesystem's timestamp granularity; any other is re-hashed
//   (git's rule, with the index file's time as the moment). The check is made where the entry is
//   used (get), not only where it is made, so no entry is trusted that the rule would not trust.
// - The moment is taken on the filesystem's own clock when it can be: a stamp file beside the
//   cache is touched before the run's first read and its mtime read back (a network filesystem's
//   server may run ahead of or behind this machine); the earlier of that and this machine's clock
//   is used. Granularity: a filesystem storing whole seconds (FAT's 2 s, HFS+, ext4 with small
//   inodes, some network filesystems) shows it in ctime, which only the kernel sets; then 2 s,
//   otherwise 50 ms (kernel ticks are at most 10 ms).
// - Written atomically (temporary file + rename), so a crash never leaves half a cache.
// - On save, entries for files not looked up in this run are dropped (pass `prune: false` to
//   keep them, e.g. for a run over a selection of images). A run that changed nothing does not
//   rewrite the file (for 3,500 files it is ≈ 0.7 MB, a noticeable part of a warm plan).
import { type BigIntStats, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { sha256 } from '../sha256.js';
import { writeFileAtomic } from '../write-atomic.js';

export const FILE_HASH_CACHE_FORMAT = 'arbor-file-hashes';
/** Bump when the entry layout or the meaning of a hash changes. */
export const FILE_HASH_CACHE_VERSION = 2;
/** Timestamps in kernel ticks (at most 10 ms) or finer: a wide margin. */
const FINE_GRANULARITY_NS = 50_000_000n;
/** Timestamps in whole seconds, or FAT's two. */
const COARSE_GRANULARITY_NS = 2_000_000_000n;
const SECOND_NS = 1_000_000_000n;

/**
 * Whether an entry made at `recordedNs` for a file with these times may be trusted: the file
 * was last written or changed longer before that moment than a timestamp tick, so any later
 * write shows in its times.
 */
export function trustworthy(times: { mtimeNs: bigint; ctimeNs: bigint }, recordedNs: bigint): boolean {
  const granularity = times.ctimeNs % SECOND_NS === 0n ? COARSE_GRANULARITY_NS : FINE_GRANULARITY_NS;
  const changed = times.mtimeNs > times.ctimeNs ? times.mtimeNs : times.ctimeNs;
  return changed + granularity < recordedNs;
}

/** Where the cache of the tree whose images.yaml is in `root` lives. */
export function fileHashCachePath(root: string): string {
  return path.join(root, '.arbor', 'cache', 'file-hashes.json');
}

interface Entry {
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
  hash: string;
  /** A moment before the file was read for this hash (see "racily clean" above). */
  recordedNs: bigint;
}

interface Header {
  format: string;
  version: number;
  host: string;
  checksum: string;
}

/** On disk: `[absPath, size, mtimeNs, ctimeNs, ino, hash, recordedNs]`, numbers as decimal strings. */
type StoredEntry = [string, string, string, string, string, string, string];

export class FileHashCache {
  private readonly seen = new Set<string>();
  /** Whether the entries differ from what the file holds (a new, changed or dropped entry). */
  private changed: boolean;
  /** When this run's entries are recorded: taken before the run reads its first file. */
  private recordedNs: bigint | undefined;

  private constructor(
    /** The cache file. */
    readonly file: string,
    private readonly entries: Map<string, Entry>,
    /** Why the stored cache was ignored, or null when it was used (or did not exist). */
    readonly discarded: string | null,
    /** The clock entries are recorded by (tests give a fixed one); default: see `now`. */
    private readonly clock: () => bigint = () => this.now(),
  ) {
    // A cache that was not read from its file (missing, discarded) must be written.
    this.changed = entries.size === 0;
  }

  /** An empty cache that will be saved to `file`. */
  static empty(file: string, clock?: () => bigint): FileHashCache {
    return new FileHashCache(file, new Map(), null, clock);
  }

  /** Reads the cache; anything wrong with it yields an empty cache (see `discarded`), never an error. */
  static async load(file: string): Promise<FileHashCache> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
      return new FileHashCache(file, new Map(), missing ? null : `unreadable: ${(e as Error).message}`);
    }
    const parsed = parseCache(text);
    return typeof parsed === 'string'
      ? new FileHashCache(file, new Map(), parsed)
      : new FileHashCache(file, parsed, null);
  }

  /** The cached content hash, when the file is unchanged since it was hashed. */
  get(absPath: string, stat: BigIntStats): string | undefined {
    this.seen.add(absPath);
    const entry = this.entries.get(absPath);
    if (
      !entry ||
      entry.size !== stat.size ||
      entry.mtimeNs !== stat.mtimeNs ||
      entry.ctimeNs !== stat.ctimeNs ||
      entry.ino !== stat.ino ||
      !trustworthy(entry, entry.recordedNs)
    ) {
      // The caller reads the file next: this run's moment must come before that read.
      this.recordedNs ??= this.clock();
      return undefined;
    }
    return entry.hash;
  }

  /**
   * Records the hash of a file read after `stat` was taken (and after a `get` that missed). An
   * entry the rule above would not trust is not kept: it would only be re-hashed.
   */
  set(absPath: string, stat: BigIntStats, hash: string): void {
    this.seen.add(absPath);
    this.recordedNs ??= this.clock();
    const recordedNs = this.recordedNs;
    if (!trustworthy(stat, recordedNs)) {
      if (this.entries.delete(absPath)) this.changed = true;
      return;
    }
    this.changed = true;
    this.entries.set(absPath, {
      size: stat.size,
      mtimeNs: stat.mtimeNs,
      ctimeNs: stat.ctimeNs,
      ino: stat.ino,
      hash,
      recordedNs,
    });
  }

  /**
   * Now, as the filesystem holding the cache sees it when it can say (a stamp file beside the
   * cache, touched and read back), never later than this machine's clock.
   */
  private now(): bigint {
    const wall = BigInt(Date.now()) * 1_000_000n;
    const stamp = path.join(path.dirname(this.file), 'file-hashes.stamp');
    try {
      mkdirSync(path.dirname(stamp), { recursive: true });
      // A write: the filesystem sets ctime (and mtime) from its own clock.
      writeFileSync(stamp, `${wall}\n`);
      const fsNow = statSync(stamp, { bigint: true }).ctimeNs;
      return fsNow < wall ? fsNow : wall;
    } catch {
      // A read-only checkout: this machine's clock.
      return wall;
    }
  }

  /** Number of entries held. */
  get size(): number {
    return this.entries.size;
  }

  async save(options: { prune?: boolean } = {}): Promise<void> {
    const prune = options.prune ?? true;
    const drops = prune && [...this.entries.keys()].some((file) => !this.seen.has(file));
    if (!this.changed && !drops) return;
    const stored: StoredEntry[] = [];
    for (const [file, e] of this.entries) {
      if (prune && !this.seen.has(file)) continue;
      stored.push([file, `${e.size}`, `${e.mtimeNs}`, `${e.ctimeNs}`, `${e.ino}`, e.hash, `${e.recordedNs}`]);
    }
    const body = JSON.stringify(stored);
    const header: Header = {
      format: FILE_HASH_CACHE_FORMAT,
      version: FILE_HASH_CACHE_VERSION,
      host: hostname(),
      checksum: sha256(body),
    };
    // A cache: when it cannot be written (a read-only checkout, `.arbor` a file), the next run
    // hashes again; the command itself goes on.
    await writeFileAtomic(this.file, `${JSON.stringify(header)}\n${body}\n`, { makeDirectory: true }).catch(
      () => undefined,
    );
  }
}

/** The entries, or why the text cannot be trusted. */
function parseCache(text: string): Map<string, Entry> | string {
  const newline = text.indexOf('\n');
  if (newline < 0) return 'truncated';
  let header: Partial<Header>;
  try {
    header = JSON.parse(text.slice(0, newline));
  } catch {
    return 'corrupt header';
  }
  if (header?.format !== FILE_HASH_CACHE_FORMAT) return 'not an arbor file-hash cache';
  if (header.version !== FILE_HASH_CACHE_VERSION)
    return `version ${header.version} (expected ${FILE_HASH_CACHE_VERSION})`;
  if (header.host !== hostname()) return `written on another host (${header.host})`;
  const body = text.slice(newline + 1).replace(/\n$/, '');
  if (sha256(body) !== header.checksum) return 'checksum mismatch (truncated or edited)';
  let stored: unknown;
  try {
    stored = JSON.parse(body);
  } catch {
    return 'corrupt body';
  }
  if (!Array.isArray(stored)) return 'corrupt body';
  const entries = new Map<string, Entry>();
  // The checksum already vouches for the content; these checks only guard against a cache
  // written by a buggy version, and are kept cheap (thousands of entries on every run).
  try {
    for (const item of stored as StoredEntry[]) {
      const [file, size, mtimeNs, ctimeNs, ino, hash, recordedNs] = item;
      if (item.length !== 7 || typeof file !== 'string' || !isHash(hash)) return 'malformed entry';
      entries.set(file, {
        size: BigInt(size),
        mtimeNs: BigInt(mtimeNs),
        ctimeNs: BigInt(ctimeNs),
        ino: BigInt(ino),
        hash,
        recordedNs: BigInt(recordedNs),
      });
    }
  } catch {
    // BigInt() of something that is not a decimal number.
    return 'malformed entry';
  }
  return entries;
}

function isHash(value: unknown): value is string {
  return typeof value === 'string' && value.length === 71 && value.startsWith('sha256:');
}
