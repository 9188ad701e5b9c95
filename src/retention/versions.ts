// Version orders for keep_last when creation times lie: semantic versions (semver.org §11
// precedence, with a leading `v` and missing minor/patch accepted: `v2`, `2025.1`), and the
// natural order of a captured tag part (`p9` < `p10`).

export interface SemVer {
  numbers: [number, number, number];
  prerelease: string[];
}

const SEMVER =
  /^v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

export function parseSemver(tag: string): SemVer | undefined {
  const m = SEMVER.exec(tag);
  if (!m) return undefined;
  const numbers = [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)] as [number, number, number];
  if (!numbers.every(Number.isSafeInteger)) return undefined;
  return { numbers, prerelease: m[4] ? m[4].split('.') : [] };
}

function compareIdentifiers(a: string, b: string): number {
  const an = /^\d+$/.test(a);
  const bn = /^\d+$/.test(b);
  if (an && bn) return compareDigits(a, b);
  if (an) return -1; // numeric identifiers have lower precedence than alphanumeric ones
  if (bn) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Compares digit strings of any length without precision loss. */
function compareDigits(a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, '');
  const y = b.replace(/^0+(?=\d)/, '');
  if (x.length !== y.length) return x.length - y.length;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Negative when a < b, positive when a > b, 0 when equal in precedence (build metadata ignored). */
export function compareSemver(a: SemVer, b: SemVer): number {
  for (let i = 0; i < 3; i++) {
    const d = a.numbers[i]! - b.numbers[i]!;
    if (d !== 0) return Math.sign(d);
  }
  // A release is newer than any of its pre-releases.
  if (a.prerelease.length === 0 && b.prerelease.length === 0) return 0;
  if (a.prerelease.length === 0) return 1;
  if (b.prerelease.length === 0) return -1;
  const n = Math.min(a.prerelease.length, b.prerelease.length);
  for (let i = 0; i < n; i++) {
    const d = compareIdentifiers(a.prerelease[i]!, b.prerelease[i]!);
    if (d !== 0) return Math.sign(d);
  }
  return Math.sign(a.prerelease.length - b.prerelease.length);
}

/** Natural order: digit runs compare as numbers, other runs as text (`p9` < `p10`, `1.9` < `1.10`). */
export function compareNatural(a: string, b: string): number {
  const xs = a.match(/\d+|\D+/g) ?? [];
  const ys = b.match(/\d+|\D+/g) ?? [];
  const n = Math.min(xs.length, ys.length);
  for (let i = 0; i < n; i++) {
    const x = xs[i]!;
    const y = ys[i]!;
    const digits = /^\d/.test(x) && /^\d/.test(y);
    const d = digits ? compareDigits(x, y) : x < y ? -1 : x > y ? 1 : 0;
    if (d !== 0) return Math.sign(d);
  }
  return Math.sign(xs.length - ys.length);
}
