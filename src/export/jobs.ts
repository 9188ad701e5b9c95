// The CI job graph of a plan: one job per image that apply changes (build or tag), needing the job
// of its nearest ancestor that has one. Unchanged images produce no job. When the tree has more
// changed images than the CI accepts jobs, whole subtrees fold into their parent's job.
import { indexByParent } from '../graph/forest.js';
import type { ExportImage } from './model.js';

export interface CiJob {
  /** Unique, `[A-Za-z0-9_-]`, starts with a letter: valid in GitHub and GitLab. */
  id: string;
  /** Images this job applies, parents before children. */
  images: string[];
  /** The job this one waits for, or null. */
  needs: string | null;
}

/** `name` with anything outside `[A-Za-z0-9_-]` replaced, and a `-2`, `-3`… suffix when taken. */
export function uniqueId(name: string, taken: Set<string>): string {
  const base = name.replace(/[^A-Za-z0-9_-]/g, '-');
  let id = base;
  for (let n = 2; taken.has(id); n++) id = `${base}-${n}`;
  taken.add(id);
  return id;
}

/** `build-keystone`: the action first, so the id starts with a letter whatever the image name. */
export function jobIdFor(action: string, name: string, taken: Set<string>): string {
  return uniqueId(`${action}-${name}`, taken);
}

/** Images in parent-before-child order, following the plan's order among siblings. */
export function topologicalImages(images: ExportImage[]): ExportImage[] {
  const { children, roots } = indexByParent(images);
  const order: ExportImage[] = [];
  const stack = [...roots].reverse();
  while (stack.length > 0) {
    const image = stack.pop()!;
    order.push(image);
    stack.push(...[...(children.get(image.name) ?? [])].reverse());
  }
  return order;
}

interface Group {
  id: string;
  images: string[];
  parent: Group | null;
  children: Set<Group>;
}

export function planJobs(images: ExportImage[], maxJobs: number): CiJob[] {
  if (!Number.isInteger(maxJobs) || maxJobs < 1) throw new RangeError(`maxJobs must be a positive integer`);
  const byName = new Map(images.map((i) => [i.name, i]));
  const groupOf = new Map<string, Group>();
  const groups: Group[] = [];
  const taken = new Set<string>();

  for (const image of topologicalImages(images)) {
    if (image.action === 'none') continue;
    const parent = nearestChangedAncestor(image, byName);
    const parentGroup = parent ? groupOf.get(parent)! : null;
    const group: Group = {
      id: jobIdFor(image.action, image.name, taken),
      images: [image.name],
      parent: parentGroup,
      children: new Set(),
    };
    parentGroup?.children.add(group);
    groupOf.set(image.name, group);
    groups.push(group);
  }

  foldUntil(groups, maxJobs);
  return groups.map((g) => ({ id: g.id, images: g.images, needs: g.parent?.id ?? null }));
}

function nearestChangedAncestor(image: ExportImage, byName: Map<string, ExportImage>): string | null {
  const seen = new Set<string>();
  let name = image.parent;
  while (name && !seen.has(name)) {
    seen.add(name);
    const ancestor = byName.get(name);
    if (!ancestor) return null;
    if (ancestor.action !== 'none') return ancestor.name;
    name = ancestor.parent;
  }
  return null;
}

/**
 * Merges the smallest leaf job into its parent's job until at most `maxJobs` remain: deep,
 * small subtrees fold first, so the wide top of the tree keeps its parallelism. Independent
 * roots, when they alone exceed the limit, share jobs pairwise.
 */
function foldUntil(groups: Group[], maxJobs: number): void {
  while (groups.length > maxJobs) {
    let pick: Group | null = null;
    for (const g of groups) {
      if (g.children.size > 0 || !g.parent) continue;
      if (!pick || g.images.length < pick.images.length) pick = g;
    }
    if (pick) {
      const parent = pick.parent!;
      parent.images.push(...pick.images);
      parent.children.delete(pick);
      groups.splice(groups.indexOf(pick), 1);
      continue;
    }
    // Only independent roots left (every group has no parent and no children).
    const roots = [...groups].sort((a, b) => a.images.length - b.images.length);
    const [small, next] = [roots[0]!, roots[1]!];
    next.images.push(...small.images);
    groups.splice(groups.indexOf(small), 1);
  }
}
