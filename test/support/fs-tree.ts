// A root file system described as plain values (path → type, mode, owner, link target, content
// digest), read from a directory or from a tar stream, so an unpacked tree can be compared with
// what the engine exports for the same image.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { extract } from 'tar-stream';

export interface Node {
  type: 'dir' | 'file' | 'symlink' | 'char' | 'block' | 'fifo';
  mode: number;
  uid: number;
  gid: number;
  target?: string;
  sha256?: string;
}

export type Tree = Map<string, Node>;

export function describeDir(root: string): Tree {
  const tree: Tree = new Map();
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(root, rel)).sort()) {
      const child = rel ? `${rel}/${name}` : name;
      const full = path.join(root, child);
      const st = lstatSync(full);
      const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
      if (st.isDirectory()) {
        tree.set(child, { type: 'dir', ...base });
        walk(child);
      } else if (st.isSymbolicLink())
        tree.set(child, { type: 'symlink', ...base, mode: 0, target: readlinkSync(full) });
      else if (st.isFile())
        tree.set(child, {
          type: 'file',
          ...base,
          sha256: createHash('sha256').update(readFileSync(full)).digest('hex'),
        });
      else if (st.isCharacterDevice()) tree.set(child, { type: 'char', ...base });
      else if (st.isBlockDevice()) tree.set(child, { type: 'block', ...base });
      else tree.set(child, { type: 'fifo', ...base });
    }
  };
  walk('');
  return tree;
}

const TYPES: Record<string, Node['type']> = {
  directory: 'dir',
  file: 'file',
  'contiguous-file': 'file',
  symlink: 'symlink',
  'character-device': 'char',
  'block-device': 'block',
  fifo: 'fifo',
};

/** A tar stream (e.g. `docker export`) as a Tree; hard links take their target's description. */
export async function describeTar(stream: Readable): Promise<Tree> {
  const tree: Tree = new Map();
  const x = extract();
  stream.pipe(x as unknown as NodeJS.WritableStream);
  for await (const entry of x) {
    const h = entry.header;
    const name = h.name.replace(/^\.?\/+/, '').replace(/\/+$/, '');
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    if (name === '' || name === '.') continue;
    if (h.type === 'link') {
      const target = tree.get(h.linkname.replace(/^\.?\/+/, ''));
      if (target) tree.set(name, { ...target });
      continue;
    }
    const type = TYPES[h.type];
    if (!type) continue;
    const node: Node = { type, mode: h.mode & 0o7777, uid: h.uid, gid: h.gid };
    if (type === 'symlink') {
      node.target = h.linkname;
      node.mode = 0;
    }
    if (type === 'file') node.sha256 = createHash('sha256').update(Buffer.concat(chunks)).digest('hex');
    tree.set(name, node);
  }
  return tree;
}

/**
 * What `docker export` adds to every container (the engine's init layer and mount points), which
 * no image contains: left out of comparisons, as are directories that only the engine created.
 */
const ENGINE_FILES = new Set([
  '.dockerenv',
  'etc/hostname',
  'etc/hosts',
  'etc/resolv.conf',
  'etc/mtab',
  'dev/console',
  'dev/pts',
  'dev/shm',
  'proc',
  'sys',
]);
const ENGINE_DIRS = new Set(['dev', 'etc']);

/** Differences between an unpacked tree and an engine export, as readable lines (empty: equal). */
export function compareWithExport(unpacked: Tree, exported: Tree): string[] {
  const out: string[] = [];
  for (const [p, node] of exported) {
    if (ENGINE_FILES.has(p)) continue;
    const mine = unpacked.get(p);
    if (!mine) {
      if (ENGINE_DIRS.has(p) && node.type === 'dir') continue;
      out.push(`missing ${p} (${JSON.stringify(node)})`);
    } else if (JSON.stringify(mine) !== JSON.stringify(node))
      out.push(`differs ${p}: unpacked ${JSON.stringify(mine)} export ${JSON.stringify(node)}`);
  }
  for (const p of unpacked.keys()) if (!exported.has(p)) out.push(`extra ${p}`);
  return out;
}
