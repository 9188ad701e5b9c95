// Promotion prefetch, as plan's (plan/prefetch.ts): each promotion records the tags it HEADed at
// each target, and the next one — same images.yaml text, same release — sends those HEADs the
// moment it starts, while it still loads code, parses images.yaml and reads the release record.
// A no-op promotion is nothing but those HEADs, so its time becomes theirs. The answers are read
// in this run (fresh); a HEAD nobody asks for is a wasted request, never a wrong answer. HEADs
// never go to a registry the current images.yaml does not name: only while its text is the one
// the list was made from, and only to the registries it names.
import type { RegistryConfig } from '../config/model.js';
import {
  isHeadPair,
  isRegistryConfig,
  type PrefetchHead,
  prefetchCacheFile,
  readPrefetchCache,
  writePrefetchCache,
} from '../plan/prefetch.js';
import type { ManifestHead } from '../registry/manifest-model.js';
import type { TargetPlan } from './model.js';

const FORMAT = 'arbor-promote-prefetch';
// 2: each HEAD carries the manifest it expects.
const VERSION = 2;

export interface PromotePrefetchList {
  /** SHA-256 of the images.yaml text the list was made from. */
  configText: string;
  /** The release that promotion planned. */
  release: string;
  /** The tree's own registry (the release record's). */
  home: RegistryConfig;
  targets: Array<{ registry: RegistryConfig; heads: PrefetchHead[] }>;
}

export function promotePrefetchFile(configFile: string): string {
  return prefetchCacheFile(configFile, 'promote-prefetch.json');
}

/**
 * The stored list when it was made from this very images.yaml text and, when one is named, this
 * release; null otherwise or when it cannot be read (never an error).
 */
export async function loadPromotePrefetch(
  file: string,
  configText: string,
  release: string | undefined,
): Promise<PromotePrefetchList | null> {
  const stored = (await readPrefetchCache(file, FORMAT, VERSION, configText)) as
    | (Partial<Omit<PromotePrefetchList, 'targets'>> & { targets?: unknown })
    | null;
  if (!stored) return null;
  if (typeof stored.release !== 'string' || (release !== undefined && release !== stored.release))
    return null;
  if (!isRegistryConfig(stored.home) || !Array.isArray(stored.targets)) return null;
  const targets = (stored.targets as Array<Partial<PromotePrefetchList['targets'][number]>>).filter(
    (t): t is PromotePrefetchList['targets'][number] =>
      isRegistryConfig(t?.registry) && Array.isArray(t.heads) && t.heads.every(isExpectedHead),
  );
  return { configText, release: stored.release, home: stored.home, targets };
}

export function savePromotePrefetch(file: string, list: PromotePrefetchList): Promise<void> {
  return writePrefetchCache(file, FORMAT, VERSION, list);
}

/**
 * The HEADs a target's plan sent, in its order, each expecting the release's manifest: what the
 * tags name once the plan is applied, so the next promotion's HEADs (a no-op's whole work) are
 * answered 304 by a registry that honours If-None-Match.
 */
export function expectedHeads(plan: TargetPlan): PrefetchHead[] {
  return plan.images.flatMap((image) =>
    image.tags.map(
      (tag): PrefetchHead => [
        image.targetRepository,
        tag,
        { digest: image.digest, mediaType: image.mediaType, size: image.size },
      ],
    ),
  );
}

function isExpectedHead(h: unknown): h is PrefetchHead {
  if (!Array.isArray(h) || h.length !== 3 || !isHeadPair(h.slice(0, 2))) return false;
  const m = h[2] as Partial<ManifestHead> | null;
  return typeof m?.digest === 'string' && typeof m.mediaType === 'string' && typeof m.size === 'number';
}
