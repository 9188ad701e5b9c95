// Applying one layer, decided entry by entry as the OCI image spec says (image-layer.md):
// - an entry replaces what was at its path, unless both are directories (then only the
//   directory's attributes change and its children stay);
// - `.wh.<name>` deletes <name> of the LOWER layers only, and `.wh..wh..opq` hides every lower
//   entry of its directory: entries of the same layer survive both, wherever the marker sits in
//   the tar (before or after its siblings);
// - hard links point at a path already in the root file system (this layer or below);
// - symlinks are created as they are and never followed: a parent that is a symlink is an error
//   (arbor never writes through a link), as is a name that leaves the root.
// The same decisions build a layer's own directory (`.layers/`), with whiteouts kept as the tar
// has them ('aufs') or turned into overlayfs whiteouts ('overlay': a 0/0 character device, and
// the `trusted.overlay.opaque` attribute) for consumers that stack layers themselves.
//
// Pure: the returned operations say what to do on disk; the index is updated as they would.
import {
  ancestorsOf,
  baseName,
  displayName,
  isWithin,
  joinPath,
  parentOf,
  parseEntryPath,
} from './entry-path.js';
import type { NodeKind, TreeIndex } from './tree-index.js';
import { classifyName } from './whiteout.js';

export interface EntryMeta {
  /** Permission bits with setuid/setgid/sticky (07777). */
  mode: number;
  uid: number;
  gid: number;
  /** Milliseconds since the epoch. */
  mtime: number;
  /** Extended attributes (PAX `SCHILY.xattr.*`), name → value. */
  xattrs?: Readonly<Record<string, Buffer>>;
}

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface LayerEntry {
  /** The name as written in the tar, its bytes as a latin1 string (see tar-reader.ts). */
  name: string;
  type: EntryType;
  meta: EntryMeta;
  /** Symlink target (kept verbatim) or hard link target (a path in the root file system). */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

export type Op =
  | { op: 'remove'; path: string }
  | { op: 'mkdir'; path: string; meta: EntryMeta }
  | { op: 'dirMeta'; path: string; meta: EntryMeta }
  | { op: 'file'; path: string; meta: EntryMeta }
  | { op: 'symlink'; path: string; target: string; meta: EntryMeta }
  /** `lower`: the target is not in this tree (a layer directory linking to a lower layer's file). */
  | { op: 'hardlink'; path: string; target: string; lower?: true }
  | {
      op: 'special';
      path: string;
      type: 'char' | 'block' | 'fifo';
      major: number;
      minor: number;
      meta: EntryMeta;
    }
  | { op: 'opaque'; path: string };

/**
 * 'merge': a chain (lower layers present in the index, whiteouts applied);
 * 'aufs' / 'overlay': a layer's own directory, whiteouts kept as files / as overlayfs whiteouts.
 */
export type ApplyMode = 'merge' | 'aufs' | 'overlay';

export interface LayerApplication {
  readonly mode: ApplyMode;
  readonly index: TreeIndex;
  /** Paths this layer wrote: 'explicit' by an entry of their own, 'implied' as a parent of one. */
  readonly written: Map<string, 'explicit' | 'implied'>;
  /** 'overlay': paths a whiteout device stands for; a directory created there later must be opaque. */
  readonly whitedOut: Set<string>;
}

export function startLayer(index: TreeIndex, mode: ApplyMode): LayerApplication {
  return { mode, index, written: new Map(), whitedOut: new Set() };
}

/** A layer that must not be applied: the message names the entry. */
export class LayerEntryError extends Error {
  constructor(
    readonly entry: string,
    readonly reason: string,
  ) {
    super(`entry "${displayName(entry)}" ${reason}`);
    this.name = 'LayerEntryError';
  }
}

/** A name inside a message, quoted and escaped as the entry's own name is. */
const quoted = (name: string) => `"${displayName(name)}"`;

/** Attributes of a directory nobody described: created because an entry below it needed it. */
export function impliedDirMeta(mtime: number): EntryMeta {
  return { mode: 0o755, uid: 0, gid: 0, mtime };
}

const KIND_OF: Record<EntryType, NodeKind> = {
  file: 'file',
  dir: 'dir',
  symlink: 'symlink',
  hardlink: 'file',
  char: 'special',
  block: 'special',
  fifo: 'special',
};

export function applyEntry(app: LayerApplication, entry: LayerEntry): Op[] {
  const parsed = parseEntryPath(entry.name);
  if (!parsed.ok) throw new LayerEntryError(entry.name, parsed.reason);
  const path = parsed.path;
  if (path === '') {
    if (entry.type !== 'dir') throw new LayerEntryError(entry.name, 'replaces the root with a non-directory');
    return [{ op: 'dirMeta', path: '', meta: entry.meta }];
  }
  const name = classifyName(baseName(path));
  if (name.kind === 'invalid') throw new LayerEntryError(entry.name, name.reason);
  // AUFS keeps its hard-link directory (.wh..wh.plnk/…) in layers too: never part of the image.
  if (
    name.kind === 'aufs-meta' ||
    ancestorsOf(path).some((a) => classifyName(baseName(a)).kind === 'aufs-meta')
  )
    return [];
  if (app.mode !== 'aufs') {
    const dir = parentOf(path)!;
    if (name.kind === 'whiteout') return whiteout(app, entry, joinPath(dir, name.target));
    if (name.kind === 'opaque') return opaque(app, entry, path, dir);
  }
  return addEntry(app, entry, path);
}

function addEntry(app: LayerApplication, entry: LayerEntry, path: string): Op[] {
  const ops: Op[] = [];
  const target = entry.type === 'hardlink' ? hardlinkTarget(app, entry, path) : undefined;
  createParents(app, entry, path, ops);
  const existing = app.index.kind(path);
  app.written.set(path, 'explicit');
  if (entry.type === 'dir') {
    if (existing === 'dir') ops.push({ op: 'dirMeta', path, meta: entry.meta });
    else {
      if (existing) ops.push({ op: 'remove', path });
      ops.push({ op: 'mkdir', path, meta: entry.meta });
      app.index.add(path, 'dir');
    }
    if (app.whitedOut.delete(path)) ops.push({ op: 'opaque', path });
    return ops;
  }
  if (existing) ops.push({ op: 'remove', path });
  switch (entry.type) {
    case 'hardlink': {
      const t = target!;
      ops.push(
        t.lower
          ? { op: 'hardlink', path, target: t.path, lower: true }
          : { op: 'hardlink', path, target: t.path },
      );
      app.index.add(path, t.kind);
      return ops;
    }
    case 'symlink':
      // symlink(2) refuses an empty target (Docker fails the pull with ENOENT).
      if (!entry.linkname) throw new LayerEntryError(entry.name, 'is a symlink with an empty target');
      ops.push({ op: 'symlink', path, target: entry.linkname, meta: entry.meta });
      break;
    case 'char':
    case 'block':
    case 'fifo':
      ops.push({
        op: 'special',
        path,
        type: entry.type,
        major: entry.devmajor ?? 0,
        minor: entry.devminor ?? 0,
        meta: entry.meta,
      });
      break;
    default:
      ops.push({ op: 'file', path, meta: entry.meta });
  }
  app.index.add(path, KIND_OF[entry.type]);
  app.whitedOut.delete(path);
  return ops;
}

/** Where a hard link points; checked before anything of the entry is decided. */
function hardlinkTarget(
  app: LayerApplication,
  entry: LayerEntry,
  path: string,
): { path: string; kind: NodeKind; lower?: true } {
  const linkname = entry.linkname ?? '';
  const parsed = parseEntryPath(linkname);
  if (!parsed.ok)
    throw new LayerEntryError(entry.name, `is a hard link whose target ${quoted(linkname)} ${parsed.reason}`);
  const target = parsed.path;
  if (target === '') throw new LayerEntryError(entry.name, 'is a hard link to the root directory');
  if (isWithin(target, path))
    throw new LayerEntryError(entry.name, `is a hard link to itself or below itself`);
  for (const ancestor of ancestorsOf(target)) {
    const kind = app.index.kind(ancestor);
    if (kind === 'symlink')
      throw new LayerEntryError(entry.name, `is a hard link through the symlink ${quoted(ancestor)}`);
    if (kind === undefined || kind !== 'dir') {
      if (app.mode !== 'merge') return { path: target, kind: 'file', lower: true };
      throw new LayerEntryError(entry.name, `is a hard link to ${quoted(linkname)}, which does not exist`);
    }
  }
  const kind = app.index.kind(target);
  if (kind === 'dir')
    throw new LayerEntryError(entry.name, `is a hard link to the directory ${quoted(linkname)}`);
  if (kind === undefined) {
    // A layer's own directory lacks the lower layers: the shell links to the chain's file instead.
    if (app.mode !== 'merge') return { path: target, kind: 'file', lower: true };
    throw new LayerEntryError(entry.name, `is a hard link to ${quoted(linkname)}, which does not exist`);
  }
  return { path: target, kind };
}

/** Parents of `path` must be directories: missing ones are created, a symlink is refused. */
function createParents(app: LayerApplication, entry: LayerEntry, path: string, ops: Op[]): void {
  for (const ancestor of ancestorsOf(path)) {
    const kind = app.index.kind(ancestor);
    if (kind === undefined) {
      ops.push({ op: 'mkdir', path: ancestor, meta: impliedDirMeta(entry.meta.mtime) });
      app.index.add(ancestor, 'dir');
    } else if (kind === 'symlink') {
      throw new LayerEntryError(entry.name, `writes through the symlink ${quoted(ancestor)}`);
    } else if (kind !== 'dir') {
      throw new LayerEntryError(entry.name, `is below ${quoted(ancestor)}, which is not a directory`);
    }
    if (!app.written.has(ancestor)) app.written.set(ancestor, 'implied');
  }
}

/** Parents of `path` as they are now: true when all are directories, false when one is missing or a file. */
function parentsExist(app: LayerApplication, entry: LayerEntry, path: string): boolean {
  for (const ancestor of ancestorsOf(path)) {
    const kind = app.index.kind(ancestor);
    if (kind === 'symlink')
      throw new LayerEntryError(entry.name, `deletes through the symlink ${quoted(ancestor)}`);
    if (kind !== 'dir') return false;
  }
  return true;
}

function whiteout(app: LayerApplication, entry: LayerEntry, target: string): Op[] {
  if (app.mode === 'overlay') return overlayWhiteout(app, entry, target);
  if (!parentsExist(app, entry, target)) return [];
  const kind = app.index.kind(target);
  if (kind === undefined) return [];
  const wrote = app.written.get(target);
  if (wrote === undefined) {
    app.index.remove(target);
    return [{ op: 'remove', path: target }];
  }
  // This layer wrote the path too: only what lies below it from lower layers goes.
  if (kind !== 'dir') return [];
  const ops = hideLower(app, target);
  // A directory that was only a parent of this layer's entries now exists because of them alone.
  if (wrote === 'implied') ops.push({ op: 'dirMeta', path: target, meta: impliedDirMeta(entry.meta.mtime) });
  return ops;
}

function opaque(app: LayerApplication, entry: LayerEntry, marker: string, dir: string): Op[] {
  const ops: Op[] = [];
  createParents(app, entry, marker, ops);
  if (app.mode === 'overlay') ops.push({ op: 'opaque', path: dir });
  else ops.push(...hideLower(app, dir));
  return ops;
}

/** Removes every entry below `dir` that this layer did not write (descending into those it did). */
function hideLower(app: LayerApplication, dir: string): Op[] {
  const ops: Op[] = [];
  const stack = [dir];
  while (stack.length > 0) {
    const at = stack.pop()!;
    for (const child of app.index.childrenOf(at)) {
      if (!app.written.has(child)) {
        app.index.remove(child);
        ops.push({ op: 'remove', path: child });
      } else if (app.index.kind(child) === 'dir') stack.push(child);
    }
  }
  return ops;
}

/** overlayfs: a 0/0 character device hides the lower path; an entry of this layer wins over it. */
function overlayWhiteout(app: LayerApplication, entry: LayerEntry, target: string): Op[] {
  const ops: Op[] = [];
  createParents(app, entry, target, ops);
  const kind = app.index.kind(target);
  if (app.written.has(target)) {
    if (kind === 'dir') ops.push({ op: 'opaque', path: target });
    return ops;
  }
  if (kind !== undefined) {
    app.index.remove(target);
    ops.push({ op: 'remove', path: target });
  }
  ops.push({
    op: 'special',
    path: target,
    type: 'char',
    major: 0,
    minor: 0,
    meta: { mode: 0, uid: entry.meta.uid, gid: entry.meta.gid, mtime: entry.meta.mtime },
  });
  app.index.add(target, 'special');
  app.whitedOut.add(target);
  return ops;
}
