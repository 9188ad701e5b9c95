// A flat list of `{ name, parent }` items as a forest. Plans and exports carry images as lists;
// the views and the CI export walk them as trees, and both need the same indexing.

export interface Forest<T> {
  /** Items by their parent's name, in list order. */
  children: Map<string, T[]>;
  /** Items without a parent, or whose parent is not in the list, in list order. */
  roots: T[];
}

/**
 * Children by parent and roots. A parent missing from the list (a partial plan, `--only`) makes
 * the item a root, so a subset of a tree is still walked whole.
 */
export function indexByParent<T extends { name: string; parent: string | null }>(
  items: readonly T[],
): Forest<T> {
  const names = new Set(items.map((i) => i.name));
  const children = new Map<string, T[]>();
  const roots: T[] = [];
  for (const item of items) {
    if (item.parent && names.has(item.parent)) {
      const list = children.get(item.parent) ?? [];
      list.push(item);
      children.set(item.parent, list);
    } else {
      roots.push(item);
    }
  }
  return { children, roots };
}
