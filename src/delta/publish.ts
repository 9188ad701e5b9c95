// Publish side: for each new layer of an image, a delta against the corresponding layer of the
// candidate old image(s), stored in the registry as an artifact whose subject is the new image.
//
// Per new layer: download it (decompressed to a temp file), check it is reproducible (arbor's gzip
// of its tar gives its digest — else no site could rebuild it), then per base: download the base,
// compute the delta, decline it when it would not pay, check that it decodes back to the very tar
// (its sha256 is the layer's diffID; with the compression already shown to reproduce the digest, that
// proves the rebuilt blob), upload and attach. Decisions not to publish are attached too, so a
// rerun converges without recomputing and a site can say why it fetches a layer whole. Existing
// artifacts for the same pair are reused. A failure of one pair is reported, never thrown: deltas
// only save bytes, they must not fail the apply that publishes them.
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pLimit, { type LimitFunction } from 'p-limit';
import { Digester, LAYER_GZIP } from '../layers/gzip.js';
import { attachArtifact } from '../registry/attach.js';
import { getBlobBytes } from '../registry/blobs.js';
import type { RegistryClient } from '../registry/client.js';
import type { Descriptor, Manifest } from '../registry/manifest-model.js';
import { shortDigest } from './choose.js';
import { type LayerPair, type PairedBy, planLayerDeltas } from './correspond.js';
import {
  type DeclinedDelta,
  type DeclinedRecord,
  type DeltaRecord,
  declinedArtifactSpec,
  deltaArtifactSpec,
  deltasAmongReferrers,
  LAYER_DELTA_ARTIFACT,
  type PublishedDelta,
} from './format.js';
import {
  canDecompress,
  compressTarFile,
  downloadLayerTar,
  isGzipLayer,
  type LayerTar,
} from './layer-files.js';
import { type PlatformImage, platformImages } from './platform-images.js';
import { applyZstdPatch, computeZstdPatch, patchParameters, zstdVersion } from './zstd.js';

/** A delta must be smaller than this share of the new blob to be published. */
export const DEFAULT_MAX_DELTA_RATIO = 0.5;

export interface DeltaCandidate {
  /** Where the old image is; default: the new image's repository. */
  repository?: string;
  manifest: Manifest;
}

export type LayerDeltaOutcome = 'published' | 'reused' | 'declined' | 'shared' | 'unpaired' | 'failed';

export interface LayerDeltaResult {
  platform: string;
  /** The image (manifest digest) the artifact is attached to. */
  subject: string;
  target: string;
  targetSize: number;
  base?: string;
  pairedBy?: PairedBy;
  outcome: LayerDeltaOutcome;
  reason: string;
  deltaSize?: number;
  /** The artifact's manifest digest. */
  artifact?: string;
  /** Wall seconds this call spent downloading, computing and verifying for this pair. */
  seconds: number;
}

type PairOutcome =
  | { kind: 'delta'; record: DeltaRecord; delta: { digest: string; size: number }; repository: string }
  | { kind: 'declined'; record: DeclinedRecord }
  | { kind: 'failed'; reason: string };

interface Computed {
  outcome: PairOutcome;
  seconds: number;
}

/**
 * Shared by the publishDeltas calls of one apply against one registry: each layer pair is computed
 * once (a base layer shared by many images), later images mount its delta. Computations run
 * `concurrency` at a time (default 1: they are CPU- and disk-bound).
 */
export class DeltaPublishCache {
  readonly pairs = new Map<string, Promise<Computed>>();
  readonly limit: LimitFunction;
  constructor(concurrency = 1) {
    this.limit = pLimit(concurrency);
  }
}

export interface PublishDeltasOptions {
  /** Temp files go here (default: the system's temp directory); they are removed after each layer. */
  workDir?: string;
  maxDeltaRatio?: number;
  minLayerBytes?: number;
  cache?: DeltaPublishCache;
  /**
   * Layers the caller compressed with LayerGzip itself (apply, which just pushed them): known
   * reproducible, so recompressing their tar to check is skipped (half the CPU of a delta).
   */
  compressedByArbor?: ReadonlySet<string>;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

const pairKey = (registry: string, pair: LayerPair) =>
  `${registry} ${pair.base.digest} ${pair.target.digest}`;

function percent(part: number, whole: number): string {
  return `${Math.round((100 * part) / Math.max(1, whole))} %`;
}

export async function publishDeltas(
  client: RegistryClient,
  repository: string,
  newManifest: Manifest,
  candidates: readonly DeltaCandidate[],
  options: PublishDeltasOptions = {},
): Promise<LayerDeltaResult[]> {
  const cache = options.cache ?? new DeltaPublishCache();
  const images = await platformImages(client, repository, newManifest);
  const old = await Promise.all(
    candidates.map(async (c) => {
      const from = c.repository ?? repository;
      return (await platformImages(client, from, c.manifest)).map((image) => ({
        ...image,
        repository: from,
      }));
    }),
  );
  const results: LayerDeltaResult[] = [];
  for (const image of images) {
    const sameplatform = old.map((list) => list.find((o) => o.platform === image.platform));
    const present = sameplatform.filter((o): o is NonNullable<typeof o> => o !== undefined);
    results.push(...(await publishForImage(client, repository, image, present, cache, options)));
  }
  return results;
}

async function publishForImage(
  client: RegistryClient,
  repository: string,
  image: PlatformImage,
  candidates: (PlatformImage & { repository: string })[],
  cache: DeltaPublishCache,
  options: PublishDeltasOptions,
): Promise<LayerDeltaResult[]> {
  const plan = planLayerDeltas(
    image,
    candidates,
    options.minLayerBytes !== undefined ? { minLayerBytes: options.minLayerBytes } : {},
  );
  const base = (target: Descriptor) => ({
    platform: image.platform,
    subject: image.subject.digest,
    target: target.digest,
    targetSize: target.size,
    seconds: 0,
  });
  // The new image's own referrers, listed once for carrying and for finding deltas already made:
  // the deltas carried are for shared layers, never for a pair's, so the listing serves both.
  let listing: Promise<ReturnType<typeof deltasAmongReferrers>> | undefined;
  const ownReferrers = () =>
    (listing ??= client
      .referrers(repository, image.subject.digest)
      .then((r) => deltasAmongReferrers(r.manifests)));
  // Carrying saves bytes only: a failure there costs the sites the whole layer, never the apply.
  const carried = await carryDeltas(client, repository, image, candidates, plan.shared, ownReferrers).catch(
    () => new Map<string, string>(),
  );
  const results: LayerDeltaResult[] = [
    ...plan.shared.map((t) => ({
      ...base(t),
      outcome: 'shared' as const,
      reason: carried.has(t.digest)
        ? `the previous image has it; its delta from ${shortDigest(carried.get(t.digest)!)} carried over`
        : 'the previous image has it',
    })),
    ...plan.unpaired.map((u) => ({ ...base(u.target), outcome: 'unpaired' as const, reason: u.reason })),
  ];
  if (plan.pairs.length === 0) return results;

  const existing = await ownReferrers();
  const computations = scheduleComputations(
    client,
    repository,
    candidates,
    plan.pairs,
    existing,
    cache,
    options,
  );
  const declinedTargets = new Set<string>();
  for (const pair of plan.pairs) {
    const row = { ...base(pair.target), base: pair.base.digest, pairedBy: pair.pairedBy };
    const found = findExisting(existing, pair);
    if (found) {
      results.push({ ...row, ...found });
      continue;
    }
    const scheduled = computations.get(pair)!;
    const computed = await scheduled.promise;
    // Time is reported by the call that spent it; a pair computed for another image costs nothing here.
    if (!scheduled.here) computed.seconds = 0;
    const outcome = computed.outcome;
    if (outcome.kind === 'failed') {
      results.push({ ...row, outcome: 'failed', reason: outcome.reason, seconds: computed.seconds });
      continue;
    }
    try {
      if (outcome.kind === 'delta') {
        await ensureBlob(client, repository, outcome.repository, outcome.delta);
        const attached = await attachArtifact(
          client,
          repository,
          deltaArtifactSpec(image.subject, outcome.record, outcome.delta),
        );
        results.push({
          ...row,
          outcome: 'published',
          reason: `delta ${outcome.delta.size} B, ${percent(outcome.delta.size, pair.target.size)} of the blob`,
          deltaSize: outcome.delta.size,
          artifact: attached.digest,
          seconds: computed.seconds,
        });
      } else {
        // A decision about the new layer alone (not reproducible) is recorded once per image.
        const key = outcome.record.base ? undefined : outcome.record.target.digest;
        const attached =
          key && declinedTargets.has(key)
            ? undefined
            : await attachArtifact(client, repository, declinedArtifactSpec(image.subject, outcome.record));
        if (key) declinedTargets.add(key);
        results.push({
          ...row,
          outcome: 'declined',
          reason: outcome.record.detail,
          ...(outcome.record.deltaSize !== undefined ? { deltaSize: outcome.record.deltaSize } : {}),
          ...(attached ? { artifact: attached.digest } : {}),
          seconds: computed.seconds,
        });
      }
    } catch (e) {
      results.push({ ...row, outcome: 'failed', reason: `attaching: ${(e as Error).message}`, seconds: 0 });
    }
  }
  return results;
}

/**
 * The deltas the previous image has for layers this image shares with it, attached to this image
 * too (the same delta blob, a new artifact whose subject is this image): a site still at the
 * release before the previous one needs that delta for this release as well, and reads only this
 * image's referrers. A layer that stays the same over several releases thus keeps the delta from
 * the release before it changed. Returns target → base of each delta now attached here.
 */
async function carryDeltas(
  client: RegistryClient,
  repository: string,
  image: PlatformImage,
  candidates: readonly (PlatformImage & { repository: string })[],
  shared: readonly Descriptor[],
  ownReferrers: () => Promise<ReturnType<typeof deltasAmongReferrers>>,
): Promise<Map<string, string>> {
  const carried = new Map<string, string>();
  if (shared.length === 0 || candidates.length === 0) return carried;
  const wanted = new Set(shared.map((d) => d.digest));
  const here = await ownReferrers();
  const have = new Set(here.deltas.map((d) => `${d.base} ${d.target}`));
  for (const d of here.deltas) if (wanted.has(d.target)) carried.set(d.target, d.base);
  for (const candidate of candidates) {
    const listed = deltasAmongReferrers(
      (await client.referrers(candidate.repository, candidate.subject.digest)).manifests,
    );
    for (const delta of listed.deltas) {
      if (!wanted.has(delta.target) || have.has(`${delta.base} ${delta.target}`)) continue;
      const artifact = await client.getManifest(candidate.repository, delta.artifact);
      const json = artifact.json as unknown as {
        config: Descriptor;
        layers: Descriptor[];
        annotations?: Record<string, string>;
      };
      const config = await getBlobBytes(
        client.context,
        candidate.repository,
        json.config.digest,
        1024 * 1024,
      );
      for (const blob of json.layers) await ensureBlob(client, repository, candidate.repository, blob);
      await attachArtifact(client, repository, {
        artifactType: LAYER_DELTA_ARTIFACT,
        subject: image.subject,
        config: { mediaType: json.config.mediaType, bytes: config },
        blobs: json.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
        ...(json.annotations ? { annotations: json.annotations } : {}),
      });
      have.add(`${delta.base} ${delta.target}`);
      carried.set(delta.target, delta.base);
    }
  }
  return carried;
}

function findExisting(
  existing: { deltas: PublishedDelta[]; declined: DeclinedDelta[] },
  pair: LayerPair,
): Pick<LayerDeltaResult, 'outcome' | 'reason' | 'artifact' | 'deltaSize'> | undefined {
  const delta = existing.deltas.find((d) => d.base === pair.base.digest && d.target === pair.target.digest);
  if (delta)
    return {
      outcome: 'reused',
      reason: 'already published',
      artifact: delta.artifact,
      deltaSize: delta.size,
    };
  const declined = existing.declined.find(
    (d) => d.target === pair.target.digest && (d.base === undefined || d.base === pair.base.digest),
  );
  if (declined)
    return {
      outcome: 'declined',
      reason: `${declined.detail} (decided before)`,
      artifact: declined.artifact,
    };
  return undefined;
}

interface Scheduled {
  promise: Promise<Computed>;
  /** Computed by this call (not joined from the cache). */
  here: boolean;
}

/** Starts (or joins, through the cache) the computation of every pair not already published. */
function scheduleComputations(
  client: RegistryClient,
  repository: string,
  candidates: (PlatformImage & { repository: string })[],
  pairs: LayerPair[],
  existing: { deltas: PublishedDelta[]; declined: DeclinedDelta[] },
  cache: DeltaPublishCache,
  options: PublishDeltasOptions,
): Map<LayerPair, Scheduled> {
  const out = new Map<LayerPair, Scheduled>();
  const byTarget = new Map<string, LayerPair[]>();
  for (const pair of pairs) {
    if (findExisting(existing, pair)) continue;
    const cached = cache.pairs.get(pairKey(client.registry, pair));
    if (cached) out.set(pair, { promise: cached.then((c) => ({ ...c })), here: false });
    else byTarget.set(pair.target.digest, [...(byTarget.get(pair.target.digest) ?? []), pair]);
  }
  for (const group of byTarget.values()) {
    const settle = new Map<LayerPair, (c: Computed) => void>();
    for (const pair of group) {
      const promise = new Promise<Computed>((resolve) => settle.set(pair, resolve));
      cache.pairs.set(pairKey(client.registry, pair), promise);
      out.set(pair, { promise: promise.then((c) => ({ ...c })), here: true });
    }
    const settleAll = (computed: Computed) => {
      for (const pair of group) settle.get(pair)!(computed);
    };
    // A settled promise ignores later calls: whatever computeForTarget did not settle fails here.
    cache
      .limit(() =>
        computeForTarget(client, repository, candidates, group, options, (p, c) => settle.get(p)!(c)),
      )
      .then(
        () => settleAll({ outcome: { kind: 'failed', reason: 'not computed' }, seconds: 0 }),
        (e: Error) => settleAll({ outcome: { kind: 'failed', reason: e.message }, seconds: 0 }),
      );
  }
  return out;
}

/** Downloads the new layer once and computes its delta against each base of `group`. */
async function computeForTarget(
  client: RegistryClient,
  repository: string,
  candidates: (PlatformImage & { repository: string })[],
  group: LayerPair[],
  options: PublishDeltasOptions,
  settle: (pair: LayerPair, computed: Computed) => void,
): Promise<void> {
  const target = group[0]!.target;
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const settleAll = (outcome: PairOutcome) => {
    for (const pair of group) settle(pair, { outcome, seconds: elapsed() });
  };
  if (!isGzipLayer(target.mediaType)) {
    settleAll({
      kind: 'declined',
      record: declined(
        undefined,
        target,
        'unsupported',
        `media type ${target.mediaType}: only gzip layers are rebuilt`,
      ),
    });
    return;
  }
  const dir = await mkdtemp(join(options.workDir ?? tmpdir(), 'arbor-delta-'));
  try {
    const fresh = await downloadChecked(
      client,
      repository,
      target,
      join(dir, 'new.tar'),
      options,
      'new layer',
    );
    const again = options.compressedByArbor?.has(target.digest)
      ? { digest: target.digest }
      : await compressTarFile(fresh.path, undefined, options.signal);
    if (again.digest !== target.digest) {
      settleAll({
        kind: 'declined',
        record: declined(
          undefined,
          target,
          'not-reproducible',
          `not reproducible: arbor's gzip of its tar gives ${shortDigest(again.digest)}, not the blob (compressed by another tool)`,
        ),
      });
      return;
    }
    for (const pair of group) {
      const pairStarted = performance.now();
      let outcome: PairOutcome;
      try {
        outcome = await computePair(
          client,
          repository,
          candidates[pair.candidate]!.repository,
          pair,
          fresh,
          dir,
          options,
        );
      } catch (e) {
        if (options.signal?.aborted) throw e;
        outcome = { kind: 'failed', reason: (e as Error).message };
      }
      // The target's download and check count once, with the first base.
      const seconds =
        (performance.now() - pairStarted) / 1000 + (pair === group[0] ? (pairStarted - started) / 1000 : 0);
      settle(pair, { outcome, seconds });
      options.log?.(
        `delta ${shortDigest(pair.base.digest)} → ${shortDigest(target.digest)}: ${outcome.kind} (${seconds.toFixed(1)} s)`,
      );
    }
  } catch (e) {
    settleAll({ kind: 'failed', reason: (e as Error).message });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function declined(
  base: Descriptor | undefined,
  target: Descriptor,
  reason: DeclinedRecord['reason'],
  detail: string,
  deltaSize?: number,
): DeclinedRecord {
  return {
    version: 1,
    ...(base ? { base: { digest: base.digest, size: base.size } } : {}),
    target: { digest: target.digest, size: target.size },
    reason,
    detail,
    ...(deltaSize !== undefined ? { deltaSize } : {}),
  };
}

/** Downloads a layer and checks the registry served the blob it names. */
async function downloadChecked(
  client: RegistryClient,
  repository: string,
  layer: Descriptor,
  path: string,
  options: PublishDeltasOptions,
  what: 'new layer' | 'base layer',
): Promise<LayerTar> {
  let tar: LayerTar;
  try {
    tar = await downloadLayerTar(client, repository, layer, path, options.signal);
  } catch (e) {
    throw new Error(`reading the ${what}: ${(e as Error).message}`, { cause: e });
  }
  if (tar.blobDigest !== layer.digest || tar.blobSize !== layer.size)
    throw new Error(`the ${what} ${shortDigest(layer.digest)}: ${repository} served other bytes`);
  return tar;
}

async function computePair(
  client: RegistryClient,
  repository: string,
  baseRepository: string,
  pair: LayerPair,
  fresh: LayerTar,
  dir: string,
  options: PublishDeltasOptions,
): Promise<PairOutcome> {
  const { base, target } = pair;
  if (!canDecompress(base.mediaType))
    return {
      kind: 'declined',
      record: declined(base, target, 'unsupported', `base media type ${base.mediaType} is not supported`),
    };
  const old = await downloadChecked(
    client,
    baseRepository,
    base,
    join(dir, 'old.tar'),
    options,
    'base layer',
  );
  try {
    const parameters = patchParameters(old.tarSize, fresh.tarSize);
    if (!parameters)
      return {
        kind: 'declined',
        record: declined(
          base,
          target,
          'unsupported',
          'layer larger than zstd --patch-from can reach (2 GiB)',
        ),
      };
    const deltaPath = join(dir, 'delta.zst');
    await computeZstdPatch(old.path, fresh.path, deltaPath, parameters, options.signal);
    const size = (await stat(deltaPath)).size;
    const ratio = options.maxDeltaRatio ?? DEFAULT_MAX_DELTA_RATIO;
    if (size >= ratio * target.size)
      return {
        kind: 'declined',
        record: declined(
          base,
          target,
          'not-worth',
          `a delta would be ${percent(size, target.size)} of the blob (${size} of ${target.size} B)`,
          size,
        ),
      };
    await verifyRoundTrip(old.path, deltaPath, parameters.windowLog, fresh, options.signal);
    const digest = await fileDigest(deltaPath);
    if (!(await client.headBlob(repository, digest)))
      await client.uploadBlob(repository, digest, () => createReadStream(deltaPath), size);
    const record: DeltaRecord = {
      version: 1,
      base: layerRecord(base, old),
      target: layerRecord(target, fresh),
      encoding: { ...parameters, tool: `zstd ${await zstdVersion()}` },
      compression: LAYER_GZIP,
    };
    return { kind: 'delta', record, delta: { digest, size }, repository };
  } finally {
    await rm(old.path, { force: true });
  }
}

function layerRecord(layer: Descriptor, tar: LayerTar): DeltaRecord['base'] {
  return {
    mediaType: layer.mediaType,
    digest: layer.digest,
    size: layer.size,
    diffId: tar.diffId,
    uncompressedSize: tar.tarSize,
  };
}

/** The delta decodes to exactly the new tar (its sha256 and size). */
async function verifyRoundTrip(
  oldTar: string,
  deltaPath: string,
  windowLog: number,
  fresh: LayerTar,
  signal?: AbortSignal,
): Promise<void> {
  const run = applyZstdPatch(oldTar, deltaPath, windowLog, signal);
  const digester = new Digester();
  run.stdout.pipe(digester).resume();
  await Promise.all([
    run.done,
    new Promise((resolve, reject) => digester.on('end', resolve).on('error', reject)),
  ]);
  if (digester.digest !== fresh.diffId || digester.size !== fresh.tarSize)
    throw new Error('the delta does not decode to the new layer (zstd round trip failed)');
}

async function fileDigest(path: string): Promise<string> {
  const digester = new Digester();
  createReadStream(path).pipe(digester).resume();
  await new Promise((resolve, reject) => digester.on('end', resolve).on('error', reject));
  return digester.digest!;
}

/** The delta blob in `repository`: already there, mounted from where it was uploaded, or copied. */
async function ensureBlob(
  client: RegistryClient,
  repository: string,
  from: string,
  blob: { digest: string; size: number },
): Promise<void> {
  if (await client.headBlob(repository, blob.digest)) return;
  const mount = await client.mountBlob(repository, blob.digest, from);
  if (mount.mounted) return;
  await client.uploadBlob(
    repository,
    blob.digest,
    async () => (await client.getBlob(from, blob.digest)).stream,
    blob.size,
    { session: mount.session },
  );
}
