// What a root file system being built holds, in memory: the kind of every path and the children
// of every directory. Layer application asks it every question (does this exist, is a parent a
// symlink, what does an opaque directory hide), so the decisions are plain functions and the
// disk is only written, never consulted, while a layer is applied.
import { parentOf } from './entry-path.js';

export type NodeKind = 'dir' | 'file' | 'symlink' | 'special';

export class TreeIndex {
  private readonly kinds = new Map<string, NodeKind>([['', 'dir']]);
  private readonly children = new Map<string, Set<string>>([['', new Set()]]);

  kind(path: string): NodeKind | undefined {
    return this.kinds.get(path);
  }

  get size(): number {
    return this.kinds.size;
  }

  /** Full paths of a directory's children, sorted (so decisions never depend on insertion order). */
  childrenOf(path: string): string[] {
    return [...(this.children.get(path) ?? [])].sort();
  }

  /** Adds a path whose parent is already a directory here (replacing whatever was there). */
  add(path: string, kind: NodeKind): void {
    const parent = parentOf(path);
    if (parent === null) throw new Error('internal: the root is always a directory');
    const siblings = this.children.get(parent);
    if (!siblings) throw new Error(`internal: parent of ${path} is not a directory in the index`);
    if (this.kinds.has(path)) this.remove(path);
    siblings.add(path);
    this.kinds.set(path, kind);
    if (kind === 'dir') this.children.set(path, new Set());
  }

  /** Removes a path and everything below it. */
  remove(path: string): void {
    if (path === '') throw new Error('internal: the root cannot be removed');
    if (!this.kinds.has(path)) return;
    const stack = [path];
    while (stack.length > 0) {
      const p = stack.pop()!;
      const kids = this.children.get(p);
      if (kids) stack.push(...kids);
      this.children.delete(p);
      this.kinds.delete(p);
    }
    this.children.get(parentOf(path)!)?.delete(path);
  }

  /** Every path (the root excluded) with its kind. */
  *entries(): IterableIterator<[string, NodeKind]> {
    for (const entry of this.kinds) if (entry[0] !== '') yield entry;
  }
}
