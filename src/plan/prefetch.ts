// Observation prefetch. A plan's HEADs can only be sent once fingerprints are known, and on a
// warm tree the registry's answers are most of a no-op plan's wall time (a CNCF registry spends
// ≈ 1–1.5 ms of CPU per request). So each full plan records which tags it read, and the next
// plan sends those same HEADs the moment it starts, while it is still parsing images.yaml and
// fingerprinting; observe() then takes the answers it needs from here and asks for the rest.
//
// The answers are fresh: they are read during this run, a few hundred milliseconds before use,
// and the saved plan's staleness check re-reads every tag before apply touches it. A prefetched
// HEAD nobody asks for (an image whose fingerprint changed) is a wasted request, counted in
// `unused` and shown under --debug.
//
// Only while images.yaml is byte for byte the file the list was made from: the HEADs go out
// before the file is parsed, and must never reach a registry the current file does not name.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RegistryConfig } from '../config/model.js';
import type { RegistryClient } from '../registry/client.js';
import type { ManifestHead } from '../registry/manifest-model.js';
import { sha256 } from '../sha256.js';
import { writeFileAtomic } from '../write-atomic.js';

const FORMAT = 'arbor-observe-prefetch';
const VERSION = 1;
/**
 * HEADs in flight at once. More than the pool's 8 connections on purpose: the client pipelines
 * HEADs, so the registry keeps a queue of work while this process is busy parsing and hashing.
 */
const PREFETCH_CONCURRENCY = 64;

export interface PrefetchList {
  /** SHA-256 of the images.yaml text the list was made from. */
  configText: string;
  /** The registry settings of that file. */
  registry: RegistryConfig;
  /** `[repository path, tag]` pairs, in the order the previous plan read them. */
  heads: Array<[string, string]>;
}

/** Where a tree's prefetch list lives: beside its other caches, under the config root. */
export function prefetchFile(configFile: string): string {
  return prefetchCacheFile(configFile, 'observe-prefetch.json');
}

/**
 * The stored list when it was made from this very images.yaml text (its SHA-256); null when there
 * is none, it was made from another text, or it cannot be read (never an error).
 */
export async function loadPrefetchList(file: string, configText: string): Promise<PrefetchList | null> {
  const stored = (await readPrefetchCache(file, FORMAT, VERSION, configText)) as Partial<PrefetchList> | null;
  if (!stored || !isRegistryConfig(stored.registry) || !Array.isArray(stored.heads)) return null;
  return { configText, registry: stored.registry, heads: stored.heads.filter(isHeadPair) };
}

export function savePrefetchList(file: string, list: PrefetchList): Promise<void> {
  return writePrefetchCache(file, FORMAT, VERSION, list);
}

// What plan's and promote's prefetch lists share: where they live, and that a list is only ever
// used for the very images.yaml text it was made from.

/** `<config root>/.arbor/cache/<name>`. */
export function prefetchCacheFile(configFile: string, name: string): string {
  return path.join(path.dirname(path.resolve(configFile)), '.arbor', 'cache', name);
}

/**
 * The stored object when it has this format and version and was made from this images.yaml text
 * (`configText`); its other fields are the caller's to check. null when absent or unreadable.
 */
export async function readPrefetchCache(
  file: string,
  format: string,
  version: number,
  configText: string,
): Promise<Record<string, unknown> | null> {
  let stored: { format?: unknown; version?: unknown; configText?: unknown } | null;
  try {
    stored = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return null;
  }
  if (stored?.format !== format || stored.version !== version || stored.configText !== configText)
    return null;
  return stored;
}

export async function writePrefetchCache(
  file: string,
  format: string,
  version: number,
  list: object,
): Promise<void> {
  const text = JSON.stringify({ format, version, ...list });
  // A cache: failing to write it (a read-only checkout) costs the next run some speed, nothing else.
  await writeFileAtomic(file, text, { makeDirectory: true }).catch(() => undefined);
}

/**
 * One HEAD to send ahead: `[repository path, tag]`, and what the tag is expected to name (sent
 * as If-None-Match, see registry/manifest.ts).
 */
export type PrefetchHead = readonly [string, string, ManifestHead?];

/** A `[repository path, tag]` pair as the lists store them. */
export function isHeadPair(h: unknown): h is [string, string] {
  return Array.isArray(h) && h.length === 2 && typeof h[0] === 'string' && typeof h[1] === 'string';
}

/** SHA-256 of images.yaml as it is now, or null when it cannot be read (loading reports that). */
export async function configTextDigest(file: string): Promise<string | null> {
  try {
    return sha256(await readFile(file, 'utf8'));
  } catch {
    return null;
  }
}

export function sameRegistry(a: RegistryConfig, b: RegistryConfig): boolean {
  return a.url === b.url && a.namespace === b.namespace && a.insecure === b.insecure && a.caFile === b.caFile;
}

/**
 * One plan's manifest HEADs: the prefetched ones, and every other one asked once and shared.
 * observe() and retention both read tags (retention every tag of a repository, so also the ones
 * the plan wants); through `client` they share the answers, which also makes the plan one
 * snapshot of the registry. Only for planning: apply re-reads live through the plain client.
 */
export class PlanHeads {
  /** A view of the client whose headManifest goes through this object. */
  readonly client: RegistryClient;
  private readonly answers = new Map<string, Promise<ManifestHead | null>>();
  private readonly prefetched = new Set<string>();
  private readonly queue: Array<{
    repository: string;
    tag: string;
    expected: ManifestHead | undefined;
    resolve: (head: ManifestHead | null) => void;
    reject: (e: unknown) => void;
  }> = [];
  /** Index of the next queued prefetch HEAD to send. */
  private next = 0;
  private used = 0;

  constructor(
    private readonly base: RegistryClient,
    prefetch: ReadonlyArray<PrefetchHead> = [],
  ) {
    this.client = Object.assign(Object.create(base) as RegistryClient, {
      headManifest: (repository: string, tag: string, expected?: ManifestHead) =>
        this.head(repository, tag, expected),
    });
    for (const [repository, tag, expected] of prefetch) {
      const k = key(repository, tag);
      if (this.answers.has(k)) continue;
      const answer = new Promise<ManifestHead | null>((resolve, reject) => {
        this.queue.push({ repository, tag, expected, resolve, reject });
      });
      // Failures surface when (and only when) the plan asks for the answer.
      answer.catch(() => {});
      this.answers.set(k, answer);
      this.prefetched.add(k);
    }
    // A work queue rather than one promise per request: the pool sees at most
    // PREFETCH_CONCURRENCY requests, sent in the order the plan will want the answers.
    const worker = async () => {
      while (this.next < this.queue.length) {
        const job = this.queue[this.next++]!;
        await base.headManifest(job.repository, job.tag, job.expected).then(job.resolve, job.reject);
      }
    };
    for (let i = 0; i < Math.min(PREFETCH_CONCURRENCY, this.queue.length); i++) void worker();
  }

  /**
   * The manifest at repository:tag, asked at most once per plan. `expected` goes with a HEAD sent
   * now; a prefetched answer was asked with the list's own expectation (either way the answer is
   * the registry's: an expectation only makes a confirming answer cheaper).
   */
  head(repository: string, tag: string, expected?: ManifestHead): Promise<ManifestHead | null> {
    const k = key(repository, tag);
    let answer = this.answers.get(k);
    if (answer) {
      if (this.prefetched.delete(k)) this.used++;
      return answer;
    }
    answer = this.base.headManifest(repository, tag, expected);
    this.answers.set(k, answer);
    return answer;
  }

  /** Sends no more prefetch HEADs (the plan failed); whoever still waits for one gets an error. */
  stop(): void {
    for (const job of this.queue.slice(this.next)) job.reject(new Error('prefetch stopped'));
    this.next = this.queue.length;
  }

  /** Prefetched answers the plan used, and the ones it never asked for. */
  get usage(): { used: number; unused: number } {
    return { used: this.used, unused: this.prefetched.size };
  }
}

function key(repository: string, tag: string): string {
  return `${repository}\n${tag}`;
}

export function isRegistryConfig(value: unknown): value is RegistryConfig {
  const r = value as Partial<RegistryConfig> | undefined;
  return (
    typeof r?.url === 'string' &&
    typeof r.namespace === 'string' &&
    typeof r.insecure === 'boolean' &&
    (r.caFile === undefined || typeof r.caFile === 'string')
  );
}
