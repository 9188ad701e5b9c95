// The content store: every regular file of every unpacked image is a hard link to one file here,
// keyed by what a hard link shares — content, mode, owner and extended attributes (one inode has
// one of each) — so identical files across layers, chains and images take their space once.
// A file's mtime belongs to the inode too: the store keeps the first one it saw (timestamps are
// not part of an image's identity; see docs/unpack.md).
//
// Small files are hashed in memory and written only when new; big ones stream to a temporary
// file while they are hashed. Entries appear atomically (link(2) of a finished file, which
// fails rather than replaces when another writer got there first).
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, chown, link, lstat, mkdir, rm, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { EntryMeta } from './apply-layer.js';
import { copyPreserving, setXattrs } from './system.js';

/** Files up to this size are read into memory whole (one at a time) instead of a temporary file. */
const IN_MEMORY_LIMIT = 1024 * 1024;

export interface StoreStats {
  /** Store entries written by this run, and their bytes. */
  filesAdded: number;
  bytesAdded: number;
  /** Regular files whose entry was already there. */
  filesReused: number;
}

export interface StoreOptions {
  /** Set uid/gid (only root can); without, files belong to whoever runs arbor. */
  keepOwner: boolean;
  /** Called once per problem that does not stop the unpack (an attribute the file system refuses). */
  warn: (message: string) => void;
}

export function storeKey(contentDigest: string, meta: EntryMeta): string {
  const xattrs = Object.entries(meta.xattrs ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v.toString('hex')}`);
  return createHash('sha256')
    .update(
      ['arbor-unpack-file-v1', contentDigest, meta.mode & 0o7777, meta.uid, meta.gid, ...xattrs].join('\0'),
    )
    .digest('hex');
}

export class ContentStore {
  readonly stats: StoreStats = { filesAdded: 0, bytesAdded: 0, filesReused: 0 };
  /** Store path → the generation currently linked to (a new one starts when one is full of links). */
  private readonly generation = new Map<string, number>();
  private temp = 0;

  constructor(
    readonly dir: string,
    private readonly options: StoreOptions,
  ) {}

  async open(): Promise<void> {
    await mkdir(path.join(this.dir, '.tmp'), { recursive: true });
  }

  private tempPath(): string {
    return path.join(this.dir, '.tmp', `${process.pid}-${++this.temp}`);
  }

  private entryPath(key: string): string {
    return path.join(this.dir, key.slice(0, 2), key);
  }

  /** Stores a file's content; returns the store path to hard-link from. Consumes `content` whole. */
  async put(content: AsyncIterable<Buffer>, size: number, meta: EntryMeta): Promise<string> {
    if (size <= IN_MEMORY_LIMIT) {
      const chunks: Buffer[] = [];
      for await (const chunk of content) chunks.push(chunk);
      const bytes = Buffer.concat(chunks);
      const key = storeKey(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, meta);
      const target = this.entryPath(key);
      if (await exists(target)) {
        this.stats.filesReused++;
        return target;
      }
      const temp = this.tempPath();
      await writeFile(temp, bytes);
      return this.commit(temp, target, bytes.length, meta);
    }
    const temp = this.tempPath();
    const hash = createHash('sha256');
    let bytes = 0;
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        bytes += chunk.length;
        callback(null, chunk);
      },
    });
    try {
      await pipeline(content, hashing, createWriteStream(temp));
    } catch (e) {
      await rm(temp, { force: true });
      throw e;
    }
    const target = this.entryPath(storeKey(`sha256:${hash.digest('hex')}`, meta));
    if (await exists(target)) {
      await rm(temp, { force: true });
      this.stats.filesReused++;
      return target;
    }
    return this.commit(temp, target, bytes, meta);
  }

  private async commit(temp: string, target: string, bytes: number, meta: EntryMeta): Promise<string> {
    try {
      await this.setAttributes(temp, meta);
      await mkdir(path.dirname(target), { recursive: true });
      try {
        await link(temp, target);
        this.stats.filesAdded++;
        this.stats.bytesAdded += bytes;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        this.stats.filesReused++;
      }
      return target;
    } finally {
      await rm(temp, { force: true });
    }
  }

  /** Owner first: chown clears setuid bits and file capabilities, which mode and xattrs then set. */
  private async setAttributes(file: string, meta: EntryMeta): Promise<void> {
    if (this.options.keepOwner) await chown(file, meta.uid, meta.gid);
    await chmod(file, meta.mode & 0o7777);
    if (meta.xattrs && Object.keys(meta.xattrs).length > 0)
      await writeXattrs(file, meta.xattrs, this.options.warn);
    const seconds = meta.mtime / 1000;
    await utimes(file, seconds, seconds);
  }

  /**
   * Hard-links a store entry to `dest`. A file system caps links per inode (65,000 on ext4): a
   * full entry gets a sibling generation (`<key>.1`, …) with the same content and attributes.
   */
  async linkTo(entry: string, dest: string | Buffer): Promise<void> {
    let generation = this.generation.get(entry) ?? 0;
    for (;;) {
      const source = generation === 0 ? entry : `${entry}.${generation}`;
      try {
        await link(source, dest);
        if (generation > 0) this.generation.set(entry, generation);
        return;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EMLINK') generation++;
        else if (code === 'ENOENT' && generation > 0) await this.newGeneration(entry, source);
        else throw e;
      }
    }
  }

  /** A copy of a full entry under the next generation's name, appearing atomically. */
  private async newGeneration(entry: string, target: string): Promise<void> {
    const temp = this.tempPath();
    try {
      await copyPreserving(entry, temp);
      await link(temp, target).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
    } finally {
      await rm(temp, { force: true });
    }
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await lstat(file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

const warned = new Set<string>();

/**
 * Extended attributes where the file system allows: a refusal (no support, `trusted.*` without
 * root) is a warning once per attribute name, not a failed unpack.
 */
export async function writeXattrs(
  file: string | Buffer,
  xattrs: Readonly<Record<string, Buffer>>,
  warn: (message: string) => void,
): Promise<void> {
  try {
    await setXattrs(file, xattrs);
  } catch (e) {
    const names = Object.keys(xattrs).join(', ');
    if (!warned.has(names)) {
      warned.add(names);
      warn(`extended attributes ${names} not kept: ${(e as Error).message}`);
    }
  }
}
