// Promotion prefetch, as plan's (plan/prefetch.ts): each promotion records the tags it HEADed at
// each target, and the next one — same images.yaml text, same release — sends those HEADs the
// moment it starts, while it still loads code, parses images.yaml and reads the release record.
// A no-op promotion is nothing but those HEADs, so its time becomes theirs. The answers are read
// in this run (fresh); a HEAD nobody asks for is a wasted request, never a wrong answer. HEADs
// never go to a registry the current images.yaml does not name: only while its text is the one
// the list was made from, and only to the registries it names.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RegistryConfig } from '../config/model.js';
import { isRegistryConfig } from '../plan/prefetch.js';
import { writeFileAtomic } from '../write-atomic.js';

const FORMAT = 'arbor-promote-prefetch';
const VERSION = 1;

export interface PromotePrefetchList {
  /** SHA-256 of the images.yaml text the list was made from. */
  configText: string;
  /** The release that promotion planned. */
  release: string;
  /** The tree's own registry (the release record's). */
  home: RegistryConfig;
  targets: Array<{ registry: RegistryConfig; heads: Array<[string, string]> }>;
}

export function promotePrefetchFile(configFile: string): string {
  return path.join(path.dirname(path.resolve(configFile)), '.arbor', 'cache', 'promote-prefetch.json');
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
  let stored: Partial<PromotePrefetchList> & { format?: unknown; version?: unknown };
  try {
    stored = JSON.parse(await readFile(file, 'utf8'));
  } catch {
    return null;
  }
  if (stored?.format !== FORMAT || stored.version !== VERSION || stored.configText !== configText)
    return null;
  if (typeof stored.release !== 'string' || (release !== undefined && release !== stored.release))
    return null;
  if (!isRegistryConfig(stored.home) || !Array.isArray(stored.targets)) return null;
  const targets = stored.targets.filter(
    (t) =>
      isRegistryConfig(t?.registry) &&
      Array.isArray(t.heads) &&
      t.heads.every((h) => Array.isArray(h) && typeof h[0] === 'string' && typeof h[1] === 'string'),
  );
  return { configText, release: stored.release, home: stored.home, targets };
}

export async function savePromotePrefetch(file: string, list: PromotePrefetchList): Promise<void> {
  // A cache: failing to write it costs the next promotion some speed, nothing else.
  await writeFileAtomic(file, JSON.stringify({ format: FORMAT, version: VERSION, ...list }), {
    makeDirectory: true,
  }).catch(() => undefined);
}

/** The `[repository, tag]` pairs of a target plan's `observed` (`repository:tag` keys). */
export function observedHeads(observed: Record<string, string | null>): Array<[string, string]> {
  return Object.keys(observed).map((key) => {
    const colon = key.lastIndexOf(':');
    return [key.slice(0, colon), key.slice(colon + 1)];
  });
}
