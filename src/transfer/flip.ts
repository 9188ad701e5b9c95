// The last step of every publication: tags. All of them in one burst of manifest PUTs (the
// manifests and blobs are already there, by digest), so a reader sees the old release or the new
// one per tag within a window of a few hundred milliseconds, never an image that is incomplete.
// The window (first to last tag PUT) is measured and reported.
import pLimit from 'p-limit';
import type { RegistryClient } from '../registry/client.js';
import type { ManifestBytes } from './model.js';

export interface TagWrite {
  repository: string;
  tag: string;
  manifest: ManifestBytes;
}

export interface FlipResult {
  tags: number;
  /** Milliseconds from the first tag PUT sent to the last one answered; 0 when there was none. */
  windowMs: number;
  startedAt?: string;
  endedAt?: string;
}

export async function flipTags(
  target: RegistryClient,
  writes: TagWrite[],
  concurrency = 16,
): Promise<FlipResult> {
  if (writes.length === 0) return { tags: 0, windowMs: 0 };
  const limit = pLimit(concurrency);
  const started = performance.now();
  const startedAt = new Date().toISOString();
  await Promise.all(
    writes.map((w) =>
      limit(() => target.putManifest(w.repository, w.tag, w.manifest.bytes, w.manifest.mediaType)),
    ),
  );
  return {
    tags: writes.length,
    windowMs: Math.round((performance.now() - started) * 10) / 10,
    startedAt,
    endedAt: new Date().toISOString(),
  };
}
