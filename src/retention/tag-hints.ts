// What each tag of a repository pointed at when arbor last read it, kept on disk per registry and
// repository. A hint decides only *how* a tag is asked about, never what the answer is:
// - a tag whose last digest is in the digest cache is asked with a HEAD: if it still points
//   there, its manifest comes from the cache;
// - any other tag (new, or never seen on this machine) is asked with one GET, which brings the
//   digest and the manifest together, where a HEAD would be followed by a GET by digest.
// Both answers come from the registry in this run. A stale, missing or damaged hint costs at
// most one request more, never a wrong mapping, so hints need no locking: the last writer wins.
//
// Beside the mapping, when arbor first saw each tag on its current digest (`since`) and when it
// last looked (`observedAt`): the registry does not say when a tag was written, but a tag that was
// absent or elsewhere at arbor's previous look was written after it. Retention uses that only to
// keep more (the grace period, evaluate.ts): a lost or damaged hint protects less, never deletes more.
//
// One file per repository, `<dir>/<sha256 hex of "registry/repository">.json`, written whole
// (temporary file, then rename) by every run that reads the repository; any failure to read is an
// empty hint, any failure to write is ignored, like the digest cache. prune() removes the files
// of repositories not read for 30 days (a repository gone from images.yaml, a deleted registry).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { DOCKER_HUB } from '../registry/reference.js';
import { sha256 } from '../sha256.js';
import { writeFileAtomic } from '../write-atomic.js';

export const TAG_HINTS_FORMAT = 'arbor-tag-hints';
export const TAG_HINTS_VERSION = 1;
const HINT_MAX_AGE_MS = 30 * 86_400_000;

interface HintFile {
  format: string;
  version: number;
  registry: string;
  repository: string;
  /** tag → manifest digest */
  tags: Record<string, string>;
  /** When this look was taken (ms since epoch). */
  observedAt?: number;
  /** tag → when arbor first saw it on its current digest (ms since epoch), if after an earlier look. */
  since?: Record<string, number>;
}

/** What a repository's tags pointed at when arbor last looked, and since when, as far as it knows. */
export interface TagRecord {
  tags: Map<string, string>;
  /** Absent when there was no readable earlier look. */
  observedAt?: number;
  since: Map<string, number>;
}

/** Beside the digest cache (`.arbor/cache/registry` → `.arbor/cache/registry-tags`): its prune would remove foreign files. */
export function tagHintsDirBeside(digestCacheDir: string): string {
  return `${digestCacheDir.replace(/[\\/]+$/, '')}-tags`;
}

/**
 * How to learn what `tag` points at: HEAD when its last digest (`last`) is in the digest cache,
 * else GET. Always HEAD on Docker Hub, where a manifest GET counts against the pull rate limit and
 * a HEAD does not (tags sharing a digest then cost one GET, not one each).
 */
export function askTagWith(
  registry: string,
  last: string | undefined,
  cache: { has(digest: string): boolean } | undefined,
): 'HEAD' | 'GET' {
  if (registry === DOCKER_HUB) return 'HEAD';
  return last !== undefined && cache?.has(last) ? 'HEAD' : 'GET';
}

export class TagHints {
  constructor(readonly dir: string) {}

  /** The last recorded tag → digest of this repository; empty when there is none or it is unreadable. */
  read(registry: string, repository: string): Map<string, string> {
    return this.readRecord(registry, repository).tags;
  }

  /** The last look at this repository with its times; no observedAt when there is none or it is unreadable. */
  readRecord(registry: string, repository: string): TagRecord {
    const hints = new Map<string, string>();
    const record: TagRecord = { tags: hints, since: new Map() };
    let parsed: Partial<HintFile>;
    try {
      parsed = JSON.parse(readFileSync(this.fileOf(registry, repository), 'utf8'));
    } catch {
      return record;
    }
    if (
      typeof parsed !== 'object' ||
      parsed === null ||
      parsed.format !== TAG_HINTS_FORMAT ||
      parsed.version !== TAG_HINTS_VERSION ||
      // A hash collision is not a concern, a hand-copied file is: check the names.
      parsed.registry !== registry ||
      parsed.repository !== repository ||
      typeof parsed.tags !== 'object' ||
      parsed.tags === null
    )
      return record;
    for (const [tag, digest] of Object.entries(parsed.tags))
      if (typeof digest === 'string') hints.set(tag, digest);
    if (typeof parsed.observedAt === 'number' && Number.isFinite(parsed.observedAt)) {
      record.observedAt = parsed.observedAt;
      if (typeof parsed.since === 'object' && parsed.since !== null)
        for (const [tag, at] of Object.entries(parsed.since))
          if (typeof at === 'number' && Number.isFinite(at) && hints.has(tag)) record.since.set(tag, at);
    }
    return record;
  }

  /** Records what the tags point at now (and, when known, since when); best effort (a failed write is dropped). */
  async write(
    registry: string,
    repository: string,
    tags: ReadonlyMap<string, string>,
    times?: { observedAt: number; since: ReadonlyMap<string, number> },
  ): Promise<void> {
    const file = this.fileOf(registry, repository);
    const sorted = <T>(m: ReadonlyMap<string, T>) =>
      Object.fromEntries([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    const body: HintFile = {
      format: TAG_HINTS_FORMAT,
      version: TAG_HINTS_VERSION,
      registry,
      repository,
      tags: sorted(tags),
      ...(times ? { observedAt: times.observedAt, since: sorted(times.since) } : {}),
    };
    // Read-only tree, disk full: the next run asks as if it had no hints.
    await writeFileAtomic(file, `${JSON.stringify(body)}\n`, { makeDirectory: true }).catch(() => undefined);
  }

  /** Removes hint files (and leftover temporary files) not written for `maxAgeMs`; never throws. */
  async prune(maxAgeMs = HINT_MAX_AGE_MS, now = Date.now()): Promise<number> {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return 0;
    }
    let removed = 0;
    for (const name of names) {
      const file = path.join(this.dir, name);
      try {
        const info = statSync(file);
        if (info.isFile() && now - info.mtimeMs > maxAgeMs) {
          await rm(file, { force: true });
          removed++;
        }
      } catch {
        // Gone meanwhile, or unreadable: leave it.
      }
    }
    return removed;
  }

  private fileOf(registry: string, repository: string): string {
    return path.join(this.dir, `${sha256(`${registry}/${repository}`).slice('sha256:'.length)}.json`);
  }
}

/**
 * Since when each tag points at its digest, as far as arbor's own looks tell: a tag absent or
 * elsewhere at the previous look was written after it, so it counts as first seen now; one
 * unchanged keeps its earlier time; without a previous look nothing is known.
 */
export function tagsFirstSeen(
  previous: TagRecord,
  now: ReadonlyMap<string, string>,
  at: number,
): Map<string, number> {
  const since = new Map<string, number>();
  if (previous.observedAt === undefined) return since;
  for (const [tag, digest] of now) {
    if (previous.tags.get(tag) !== digest) since.set(tag, at);
    else {
      const earlier = previous.since.get(tag);
      if (earlier !== undefined) since.set(tag, earlier);
    }
  }
  return since;
}
