// A build context as Docker sends it to the builder: every file, directory and symlink under the
// context directory that `.dockerignore` does not exclude, with its permission bits.
//
// Decisions (each follows what Docker puts in the context tar):
// - Directories are entries too, empty or not: Docker sends them with their mode, and COPY
//   recreates them, so an added empty directory or a chmod on a directory changes the image.
// - Symlinks are entries holding their target; they are never followed. A target that leaves
//   the context (absolute, or climbing above the context root, also through other links) is an
//   error naming the link: the fingerprint could not see what it points to.
// - `.dockerignore` itself is always sent (the docker CLI re-includes it even when it excludes
//   itself), so it is an entry like any other file.
// - Sockets are skipped (Docker's tar walk skips them); FIFOs and device nodes are errors.
// - `<root>/.arbor` (arbor's own cache) is never part of a context: it changes on every run.
// - Owners, timestamps and the order the directory is read in do not count: entries are sorted
//   by path in byte order.
// The walk uses synchronous calls on purpose: for metadata already in the kernel's cache a
// synchronous lstat costs a few microseconds, a promise round trip through the thread pool
// several times that, and a warm run is nothing but these calls.
import {
  type BigIntStats,
  type Dirent,
  lstatSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  statSync,
} from 'node:fs';
import path from 'node:path';
import { ArborError, type Diagnostic, error } from '../errors.js';
import { compareBytes } from './canonical.js';
import { type ContextFilter, readContextFilter } from './dockerignore.js';
import type { ContextFile } from './model.js';
import { checkLinkStaysInside, isWithin } from './symlink.js';

export type { ContextFile };

/** A context entry plus what the file-hash cache needs to recognise the file. */
export interface ContextEntry {
  file: ContextFile;
  absPath: string;
  stat: BigIntStats;
}

/** Every entry of the build context `contextDir` (absolute, or relative to `root`). */
export async function collectContext(contextDir: string, root: string): Promise<ContextFile[]> {
  return (await collectContextEntries(contextDir, root)).map((entry) => entry.file);
}

export async function collectContextEntries(contextDir: string, root: string): Promise<ContextEntry[]> {
  return collectContextEntriesSync(contextDir, root);
}

function collectContextEntriesSync(contextDir: string, root: string): ContextEntry[] {
  const rootReal = realpathSync(root);
  const contextAbs = path.resolve(root, contextDir);
  const shown = displayPath(root, contextAbs);
  if (!isWithin(path.resolve(root), contextAbs))
    throw new ArborError(`context ${contextDir} escapes the repository root`);
  let contextReal: string;
  try {
    contextReal = realpathSync(contextAbs);
  } catch (e) {
    throw new ArborError(`context directory ${shown} ${describeFsError(e)}`, { cause: e });
  }
  if (!isWithin(rootReal, contextReal))
    throw new ArborError(
      `context ${shown} is a symlink leading out of the repository root (to ${contextReal})`,
    );
  if (!statSync(contextReal).isDirectory()) throw new ArborError(`context ${shown} is not a directory`);

  const walk = new ContextWalk(contextReal, shown, readContextFilter(contextReal), rootReal);
  walk.directory(contextReal, '');
  if (walk.problems.length > 0) throw new ArborError(walk.problems);
  return walk.entries.sort((a, b) => compareBytes(a.file.path, b.file.path));
}

class ContextWalk {
  readonly entries: ContextEntry[] = [];
  readonly problems: Diagnostic[] = [];
  private readonly arborDir: string;

  constructor(
    private readonly contextReal: string,
    private readonly shown: string,
    private readonly filter: ContextFilter,
    rootReal: string,
  ) {
    this.arborDir = path.join(rootReal, '.arbor');
  }

  directory(absDir: string, relDir: string): void {
    let dirents: Dirent[];
    try {
      dirents = readdirSync(absDir, { withFileTypes: true });
    } catch (e) {
      this.problems.push(error(`cannot read ${this.show(relDir)}: ${describeFsError(e)}`));
      return;
    }
    for (const dirent of dirents) this.entry(dirent, absDir, relDir);
  }

  private entry(dirent: Dirent, absDir: string, relDir: string): void {
    const rel = relDir === '' ? dirent.name : `${relDir}/${dirent.name}`;
    const abs = `${absDir}${path.sep}${dirent.name}`;
    if (abs === this.arborDir) return;
    const isDir = dirent.isDirectory();
    // The docker CLI always sends .dockerignore, even when it excludes itself.
    const excluded = rel !== '.dockerignore' && this.filter.excludes(rel);
    if (excluded && !(isDir && this.filter.mustDescend(rel))) return;
    let st: BigIntStats;
    try {
      st = lstatSync(abs, { bigint: true });
    } catch (e) {
      this.problems.push(error(`cannot read ${this.show(rel)}: ${describeFsError(e)}`));
      return;
    }
    const mode = Number(st.mode & 0o7777n);
    if (st.isDirectory()) {
      // An excluded directory walked only for its `!` exceptions is not itself sent.
      if (!excluded) this.add({ path: rel, type: 'dir', mode, size: 0 }, abs, st);
      this.directory(abs, rel);
    } else if (st.isFile()) {
      this.add({ path: rel, type: 'file', mode, size: Number(st.size) }, abs, st);
    } else if (st.isSymbolicLink()) {
      this.symlink(rel, abs, mode, st);
    } else if (!st.isSocket()) {
      this.problems.push(
        error(
          `${this.show(rel)} is a special file (FIFO or device); a build context may hold only files, directories and symlinks`,
        ),
      );
    }
  }

  private symlink(rel: string, abs: string, mode: number, st: BigIntStats): void {
    const target = readlinkSync(abs);
    const verdict = checkLinkStaysInside(this.contextReal, rel, target);
    if (!verdict.inside) {
      // A link meant for the image's own file system (etc/localtime -> /usr/share/zoneinfo/UTC in
      // a rootfs overlay) is made where it belongs, in the image: the hint says how.
      const hint = path.isAbsolute(target)
        ? ` (a link meant for inside the image: make it in the Dockerfile, RUN ln -s ${target} <path>)`
        : '';
      this.problems.push(
        error(`symlink ${this.show(rel)} ${verdict.reason}: it escapes its build context${hint}`),
      );
      return;
    }
    this.add(
      { path: rel, type: 'symlink', mode, size: Buffer.byteLength(target), linkTarget: target },
      abs,
      st,
    );
  }

  private add(file: ContextFile, absPath: string, st: BigIntStats): void {
    this.entries.push({ file, absPath, stat: st });
  }

  private show(rel: string): string {
    if (rel === '') return this.shown;
    return this.shown === '.' ? rel : `${this.shown}/${rel}`;
  }
}

/** A path as the user wrote it relative to the config root, POSIX style. */
function displayPath(root: string, abs: string): string {
  return path.relative(root, abs).split(path.sep).join('/') || '.';
}

export function describeFsError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EACCES' || code === 'EPERM') return 'is not readable (permission denied)';
  if (code === 'ENOTDIR') return 'is not a directory';
  return (e as Error).message;
}
