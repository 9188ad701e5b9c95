// Does a symlink inside a directory tree point outside of it? A lexical check of the target is
// not enough: `a -> sub/d/..` looks inside, but is outside when `sub/d` is itself a link to `..`.
// So the target is resolved component by component, following links met on the way, the way
// the kernel would, while watching that the path never climbs above the tree's root.
import { lstatSync, readlinkSync } from 'node:fs';
import path from 'node:path';

/** Links followed before giving up, as Linux's MAXSYMLINKS. */
const MAX_HOPS = 40;

export type LinkVerdict = { inside: true } | { inside: false; reason: string };

/**
 * @param treeRoot absolute directory the link must stay within
 * @param linkRel the link's path relative to treeRoot (POSIX)
 * @param target the link's target as stored
 */
export function checkLinkStaysInside(treeRoot: string, linkRel: string, target: string): LinkVerdict {
  if (path.posix.isAbsolute(target))
    return { inside: false, reason: `points to the absolute path ${target}` };
  const stack = path.posix.dirname(linkRel).split('/').filter(isName);
  const pending = target.split('/');
  // Once a component does not exist, the rest cannot traverse further links: resolve lexically.
  let onDisk = true;
  let hops = 0;
  while (pending.length > 0) {
    const component = pending.shift()!;
    if (component === '' || component === '.') continue;
    if (component === '..') {
      if (stack.length === 0) return { inside: false, reason: `points outside (${target})` };
      stack.pop();
      continue;
    }
    stack.push(component);
    if (!onDisk) continue;
    const here = path.join(treeRoot, ...stack);
    let isLink: boolean;
    try {
      isLink = lstatSync(here).isSymbolicLink();
    } catch {
      onDisk = false;
      continue;
    }
    if (!isLink) continue;
    if (++hops > MAX_HOPS) return { inside: false, reason: `is part of a symlink loop (${target})` };
    const next = readlinkSync(here);
    if (path.posix.isAbsolute(next))
      return { inside: false, reason: `resolves through ${stack.join('/')} to the absolute path ${next}` };
    stack.pop();
    pending.unshift(...next.split('/'));
  }
  return { inside: true };
}

function isName(component: string): boolean {
  return component !== '' && component !== '.';
}

/** True when `child` (absolute) is `parent` or below it. */
export function isWithin(parent: string, child: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}
