// Carries out layer-application operations on one directory (a chain being built, or a layer's
// own directory). Every path is root + a checked relative path whose parents the index knows to
// be real directories, so nothing is ever written through a symlink or outside the root.
// Regular files are hard links into the content store; directories get their attributes at the
// end, deepest first (creating children changes a directory's mtime, and a read-only directory
// must stay writable while it fills).

import { chmodSync, chownSync, utimesSync } from 'node:fs';
import { lchown, link, lutimes, mkdir, rm, symlink } from 'node:fs/promises';
import type { EntryMeta, Op } from './apply-layer.js';
import { displayName, fsName, fsPath } from './entry-path.js';
import type { ContentStore } from './store.js';
import { writeXattrs } from './store.js';
import { copyPreserving, makeDevice, makeFifo } from './system.js';

export interface DiskTreeOptions {
  store: ContentStore;
  /** A directory on the same file system where tools create nodes before they are renamed into place. */
  scratch: string;
  keepOwner: boolean;
  warn: (message: string) => void;
}

const OPAQUE_XATTR = 'trusted.overlay.opaque';

export class DiskTree {
  /** Directory → attributes to set when the layer is done. */
  private readonly pendingDirs = new Map<string, EntryMeta>();
  /** Directory → extended attributes it must end with (kept beside a chain, see Layout.chainDirXattrs). */
  readonly dirXattrs: Map<string, Record<string, Buffer>>;

  constructor(
    readonly root: string,
    private readonly options: DiskTreeOptions,
    inheritedDirXattrs: Map<string, Record<string, Buffer>> = new Map(),
  ) {
    this.dirXattrs = inheritedDirXattrs;
  }

  /** The layer's bytes, not a UTF-8 string: a name that is not UTF-8 must survive unchanged. */
  abs(rel: string): string | Buffer {
    return fsPath(this.root, rel);
  }

  /**
   * `content` stores the entry's file content once (shared with the other tree the same entry
   * goes to); `lowerFile` names an existing file for a hard link to a lower layer.
   */
  async execute(
    ops: Op[],
    content: () => Promise<string>,
    lowerFile?: (rel: string) => string | Buffer,
  ): Promise<void> {
    for (const op of ops) {
      const at = this.abs(op.path);
      switch (op.op) {
        case 'remove':
          await rm(at, { recursive: true, force: true });
          for (const dir of this.pendingDirs.keys()) if (within(dir, op.path)) this.pendingDirs.delete(dir);
          for (const dir of this.dirXattrs.keys()) if (within(dir, op.path)) this.dirXattrs.delete(dir);
          break;
        case 'mkdir':
          await mkdir(at, { mode: 0o700 });
          this.pendingDirs.set(op.path, op.meta);
          this.dirXattrs.delete(op.path);
          if (op.meta.xattrs) this.dirXattrs.set(op.path, { ...op.meta.xattrs });
          break;
        case 'dirMeta':
          this.pendingDirs.set(op.path, op.meta);
          this.dirXattrs.delete(op.path);
          if (op.meta.xattrs) this.dirXattrs.set(op.path, { ...op.meta.xattrs });
          break;
        case 'opaque':
          this.dirXattrs.set(op.path, { ...this.dirXattrs.get(op.path), [OPAQUE_XATTR]: Buffer.from('y') });
          break;
        case 'file':
          await this.options.store.linkTo(await content(), at);
          break;
        case 'symlink':
          await symlink(fsName(op.target), at);
          if (this.options.keepOwner) await lchown(at, op.meta.uid, op.meta.gid);
          await lutimes(at, op.meta.mtime / 1000, op.meta.mtime / 1000);
          break;
        case 'hardlink':
          await this.hardlink(op.lower && lowerFile ? lowerFile(op.path) : this.abs(op.target), at);
          break;
        case 'special':
          await this.special(at, op);
          break;
      }
    }
  }

  private async hardlink(from: string | Buffer, to: string | Buffer): Promise<void> {
    try {
      await link(from, to);
    } catch (e) {
      // The target already has as many links as the file system allows: a copy keeps every attribute.
      if ((e as NodeJS.ErrnoException).code !== 'EMLINK') throw e;
      await copyPreserving(from, to, this.options.scratch);
    }
  }

  private async special(at: string | Buffer, op: Extract<Op, { op: 'special' }>): Promise<void> {
    try {
      if (op.type === 'fifo') await makeFifo(at, this.options.scratch);
      else await makeDevice(at, this.options.scratch, op.type, op.major, op.minor);
    } catch (e) {
      // Only root may create device nodes: without it the node is left out, as rootless engines do.
      this.options.warn(`${op.type} ${displayName(op.path)} left out: ${(e as Error).message}`);
      return;
    }
    if (this.options.keepOwner) await lchown(at, op.meta.uid, op.meta.gid);
    chmodSync(at, op.meta.mode & 0o7777);
    await lutimes(at, op.meta.mtime / 1000, op.meta.mtime / 1000);
  }

  /** Directory attributes and extended attributes (inherited ones included), deepest first. */
  async finish(): Promise<void> {
    const dirs = new Set([...this.pendingDirs.keys(), ...this.dirXattrs.keys()]);
    const ordered = [...dirs].sort((a, b) => depth(b) - depth(a) || (a < b ? -1 : 1));
    for (const rel of ordered) {
      const at = this.abs(rel);
      const meta = this.pendingDirs.get(rel);
      const xattrs = this.dirXattrs.get(rel);
      if (meta && this.options.keepOwner) chownSync(at, meta.uid, meta.gid);
      if (meta) chmodSync(at, meta.mode & 0o7777);
      if (xattrs) await writeXattrs(at, xattrs, this.options.warn);
      if (meta) utimesSync(at, meta.mtime / 1000, meta.mtime / 1000);
    }
  }
}

function within(p: string, dir: string): boolean {
  return dir === '' || p === dir || p.startsWith(`${dir}/`);
}

function depth(p: string): number {
  if (p === '') return 0;
  let n = 1;
  for (const c of p) if (c === '/') n++;
  return n;
}
