// A new chain starts as a copy of its parent chain that costs no file data: directories are
// created with the parent's attributes, everything else is a hard link to the parent's inode
// (regular files are store entries already). The walk also yields the index the next layer is
// decided against, so the parent is read once. Synchronous fs calls: tens of thousands of tiny
// operations run several times faster than through the promise API. Names are read as bytes
// (latin1 strings in the index, as layer entries are named), so any name is kept.
import { chmodSync, chownSync, linkSync, lstatSync, mkdirSync, readdirSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { fsPath, joinPath } from './entry-path.js';
import { copyPreserving } from './system.js';
import { type NodeKind, TreeIndex } from './tree-index.js';

export interface CloneResult {
  index: TreeIndex;
  files: number;
  dirs: number;
}

export async function cloneTree(from: string, to: string, keepOwner: boolean): Promise<CloneResult> {
  const index = new TreeIndex();
  const dirs: string[] = [''];
  const overLinked: [string | Buffer, string | Buffer][] = [];
  let files = 0;
  mkdirSync(to, { mode: 0o700 });
  for (let i = 0; i < dirs.length; i++) {
    const rel = dirs[i]!;
    for (const entry of readdirSync(fsPath(from, rel), { withFileTypes: true, encoding: 'buffer' })) {
      const child = joinPath(rel, entry.name.toString('latin1'));
      const source = fsPath(from, child);
      const target = fsPath(to, child);
      if (entry.isDirectory()) {
        mkdirSync(target, { mode: 0o700 });
        index.add(child, 'dir');
        dirs.push(child);
        continue;
      }
      const kind: NodeKind = entry.isSymbolicLink() ? 'symlink' : entry.isFile() ? 'file' : 'special';
      try {
        linkSync(source, target);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EMLINK') throw e;
        overLinked.push([source, target]);
      }
      index.add(child, kind);
      files++;
    }
  }
  for (const [source, target] of overLinked) await copyPreserving(source, target, path.dirname(to));
  for (let i = dirs.length - 1; i >= 0; i--) {
    const rel = dirs[i]!;
    const st = lstatSync(fsPath(from, rel));
    const target = fsPath(to, rel);
    if (keepOwner) chownSync(target, st.uid, st.gid);
    chmodSync(target, st.mode & 0o7777);
    utimesSync(target, st.atime, st.mtime);
  }
  return { index, files, dirs: dirs.length };
}
