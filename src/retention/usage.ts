// Registry space as users misjudge it and as it is. The apparent size adds up every tag's image
// (what `docker images` would show after pulling each tag); the real size counts each stored
// blob once (manifests, configs, layers), as the registry stores them: content-addressed, so a
// layer shared by 40 tags, or a digest carrying 3 tags, takes its space once.
import type { Artifact } from './model.js';

export interface RepositoryUsage {
  repository: string;
  tags: number;
  /** Distinct manifests (a multi-arch index and each of its children count). */
  manifests: number;
  /** Sum over tags of the size of the image each tag names. */
  apparentBytes: number;
  /** Sum of the distinct blobs of the repository. */
  realBytes: number;
}

export interface UsageReport {
  repositories: RepositoryUsage[];
  total: {
    tags: number;
    apparentBytes: number;
    /** Distinct blobs across all repositories (the registry stores a blob once for all of them). */
    realBytes: number;
  };
}

export function computeUsage(
  histories: ReadonlyArray<{ repository: string; artifacts: readonly Artifact[] }>,
): UsageReport {
  const everywhere = new Map<string, number>();
  const repositories = histories.map(({ repository, artifacts }) => {
    const byDigest = new Map(artifacts.map((a) => [a.digest, a]));
    const unique = new Map<string, number>();
    for (const a of artifacts)
      for (const b of a.blobs) {
        unique.set(b.digest, b.size);
        everywhere.set(b.digest, b.size);
      }
    let apparentBytes = 0;
    let tags = 0;
    for (const a of artifacts) {
      tags += a.tags.length;
      apparentBytes += a.tags.length * imageBytes(a, byDigest, new Set());
    }
    return { repository, tags, manifests: artifacts.length, apparentBytes, realBytes: sum(unique.values()) };
  });
  return {
    repositories,
    total: {
      tags: repositories.reduce((n, r) => n + r.tags, 0),
      apparentBytes: repositories.reduce((n, r) => n + r.apparentBytes, 0),
      realBytes: sum(everywhere.values()),
    },
  };
}

/** One image's bytes: its own blobs, plus its children's for an index (each child once). */
function imageBytes(artifact: Artifact, byDigest: ReadonlyMap<string, Artifact>, seen: Set<string>): number {
  if (seen.has(artifact.digest)) return 0;
  seen.add(artifact.digest);
  let bytes = sum(artifact.blobs.map((b) => b.size));
  for (const child of artifact.children) {
    const c = byDigest.get(child);
    if (c) bytes += imageBytes(c, byDigest, seen);
  }
  return bytes;
}

function sum(values: Iterable<number>): number {
  let n = 0;
  for (const v of values) n += v;
  return n;
}

/** `1.5 GiB`, `320 KiB`, `12 B`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${units[unit]}`;
}
