// Carrying out a sync plan: each missing blob once (the transfer engine: HEAD, mount from another
// repository of the site, resumable upload), a layer the plan rebuilds from a delta is rebuilt at
// the site from the delta and the site's own base layer and uploaded only after its sha256 and
// size were checked against the manifest (any failure: that layer is fetched whole, and said so);
// configs and manifests copied unchanged, so every digest stays; then every tag in one burst and
// the release record at the site.
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { shortDigest } from '../delta/choose.js';
import { DeltaUnusable } from '../delta/errors.js';
import { type RebuiltLayer, rebuildFromDelta } from '../delta/rebuild.js';
import type { RegistryClient } from '../registry/client.js';
import { putTagsGuarded } from '../registry/deletion-guard.js';
import type { Descriptor } from '../registry/manifest-model.js';
import { type ReleaseRecord, recordIn } from '../release/record.js';
import { writeRecord } from '../release/store.js';
import type { BlobSource } from '../transfer/blob-source.js';
import { copyImageTo } from '../transfer/copy-image.js';
import { copyReferrers } from '../transfer/copy-referrers.js';
import type { FlipResult, TagWrite } from '../transfer/flip.js';
import { BlobLedger } from '../transfer/ledger.js';
import { type CopyTotals, emptyTotals, type ImageToCopy } from '../transfer/model.js';
import type { SourceManifests } from '../transfer/source-manifests.js';
import type { SyncPlan } from './model.js';

/** Layer deltas and the publisher's "declined" notes: useful at the centre only. */
const LAYER_DELTA_PREFIX = 'application/vnd.arbor.layer-delta';

export interface SyncResult {
  totals: CopyTotals;
  flip: FlipResult;
  rebuilt: number;
  /** Layers the plan meant to rebuild from a delta that were fetched whole instead, with why. */
  fallbacks: string[];
  /** Artifacts referring to the images (signatures, SBOMs, provenance) copied along. */
  referrers: number;
}

export interface SyncApplyRequest {
  plan: SyncPlan;
  record: ReleaseRecord;
  source: SourceManifests;
  target: RegistryClient;
  /** Where the site's release record goes; null writes none (a sync by tag is not a release). */
  releasesRepository: string | null;
  /** What planning learnt of the site's blobs (observe.ts): found blobs are mounted, not sent. */
  ledger?: BlobLedger;
  signal?: AbortSignal;
  onStep?: (line: string) => void;
}

export async function applySync(request: SyncApplyRequest): Promise<SyncResult> {
  const { plan, source, target } = request;
  const workDir = await mkdtemp(join(tmpdir(), 'arbor-sync-'));
  const totals = emptyTotals();
  const ledger = request.ledger ?? new BlobLedger();
  const fallbacks: string[] = [];
  const rebuilt: RebuiltLayer[] = [];
  const limit = pLimit(2);
  let referrers = 0;
  try {
    const copies = plan.images.filter((i) => i.action === 'copy');
    if (copies.length > 0) request.onStep?.(`copying ${copies.length} image(s)`);
    await Promise.all(
      copies.map((image) =>
        limit(async () => {
          const copy = await source.image(image.sourceRepository, image.digest);
          const viaDelta = new Map(
            image.layers.filter((l) => l.source.kind === 'delta').map((l) => [l.digest, l.source]),
          );
          const withDeltas = (i: ImageToCopy): ImageToCopy => ({
            ...i,
            blobs: i.blobs.map((b) => {
              const way = viaDelta.get(b.descriptor.digest);
              if (way?.kind !== 'delta') return b;
              return {
                ...b,
                source: fromDelta(
                  request,
                  image.sourceRepository,
                  image.targetRepository,
                  b.descriptor,
                  way.delta,
                  b.source,
                  {
                    workDir,
                    rebuilt,
                    fallbacks,
                  },
                ),
              };
            }),
            children: i.children.map(withDeltas),
          });
          await copyImageTo(target, image.targetRepository, withDeltas(copy), ledger, totals, {
            ...(request.signal ? { signal: request.signal } : {}),
          });
          // Signatures, SBOMs and provenance travel with the image; its layer deltas stay at the centre.
          // Read before adding (`x += await …` adds to the count as it was before the await).
          const copied = await copyReferrers(
            source,
            target,
            image.sourceRepository,
            image.targetRepository,
            image.digest,
            ledger,
            totals,
            {
              include: (type) => !type?.startsWith(LAYER_DELTA_PREFIX),
              ...(request.signal ? { signal: request.signal } : {}),
            },
          );
          referrers += copied;
        }),
      ),
    );
    request.signal?.throwIfAborted();
    const writes: TagWrite[] = [];
    for (const image of plan.images) {
      if (image.tagsToWrite.length === 0) continue;
      const m = await source.get(image.sourceRepository, image.digest);
      for (const tag of image.tagsToWrite)
        writes.push({
          repository: image.targetRepository,
          tag,
          manifest: { digest: m.digest, mediaType: m.mediaType, bytes: m.bytes },
        });
    }
    if (writes.length > 0) request.onStep?.(`flipping ${writes.length} tag(s)`);
    const flip = await putTagsGuarded(target, writes);
    if (request.releasesRepository) {
      const planned = new Set(plan.images.map((i) => i.name));
      await writeRecord(
        target,
        request.releasesRepository,
        recordIn(
          { ...request.record, images: request.record.images.filter((i) => planned.has(i.name)) },
          plan.target.registry,
          plan.target.namespace,
        ),
      );
    }
    return { totals, flip, rebuilt: rebuilt.length, fallbacks, referrers };
  } finally {
    await Promise.all(rebuilt.map((r) => r.dispose().catch(() => undefined)));
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * A blob source that rebuilds the layer from its delta the first time it is opened, and reads the
 * verified file; when the delta cannot serve, it falls back to the whole blob from the source.
 */
function fromDelta(
  request: SyncApplyRequest,
  sourceRepository: string,
  targetRepository: string,
  layer: Descriptor,
  delta: Parameters<typeof rebuildFromDelta>[2]['delta'],
  whole: BlobSource,
  shared: { workDir: string; rebuilt: RebuiltLayer[]; fallbacks: string[] },
): BlobSource {
  let ready: Promise<RebuiltLayer | null> | undefined;
  const rebuild = () => {
    ready ??= rebuildFromDelta(request.source.client, request.target, {
      sourceRepository,
      targetRepository,
      layer,
      delta,
      workDir: shared.workDir,
      ...(request.signal ? { signal: request.signal } : {}),
    }).then(
      (r) => {
        shared.rebuilt.push(r);
        return r;
      },
      (e: unknown) => {
        if (!(e instanceof DeltaUnusable)) throw e;
        shared.fallbacks.push(`${shortDigest(layer.digest)}: ${e.reason} (${e.message}); fetched whole`);
        return null;
      },
    );
    return ready;
  };
  return {
    describe: `delta for ${layer.digest}`,
    open: async (offset) => {
      const file = await rebuild();
      return file
        ? createReadStream(file.path, { start: offset, highWaterMark: 1024 * 1024 })
        : whole.open(offset);
    },
  };
}
