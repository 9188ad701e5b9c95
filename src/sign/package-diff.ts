// What changed in an image between two releases, from their SBOMs: packages added, removed,
// upgraded (or downgraded). Pure. Versions are compared only for equality; which one is newer is
// the distribution's business, so a change is reported as "from → to".
import { type InstalledPackage, normalizePackages, packageKey } from './packages.js';

export interface PackageChange {
  type: InstalledPackage['type'];
  name: string;
  arch?: string;
  from: string;
  to: string;
}

export interface PackageDiff {
  added: InstalledPackage[];
  removed: InstalledPackage[];
  changed: PackageChange[];
}

export function diffPackages(before: InstalledPackage[], after: InstalledPackage[]): PackageDiff {
  const old = new Map(normalizePackages(before).map((p) => [packageKey(p), p]));
  const now = new Map(normalizePackages(after).map((p) => [packageKey(p), p]));
  const diff: PackageDiff = { added: [], removed: [], changed: [] };
  for (const [key, p] of now) {
    const was = old.get(key);
    if (!was) diff.added.push(p);
    else if (was.version !== p.version)
      diff.changed.push({
        type: p.type,
        name: p.name,
        ...(p.arch ? { arch: p.arch } : {}),
        from: was.version,
        to: p.version,
      });
  }
  for (const [key, p] of old) if (!now.has(key)) diff.removed.push(p);
  return diff;
}

export function isEmptyDiff(d: PackageDiff): boolean {
  return d.added.length === 0 && d.removed.length === 0 && d.changed.length === 0;
}

/** `+ name version`, `- name version`, `~ name from → to`, sorted by name within each group. */
export function diffLines(d: PackageDiff): string[] {
  return [
    ...d.added.map((p) => `+ ${p.name} ${p.version}`),
    ...d.removed.map((p) => `- ${p.name} ${p.version}`),
    ...d.changed.map((c) => `~ ${c.name} ${c.from} → ${c.to}`),
  ];
}
