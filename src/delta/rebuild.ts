// Site side: a layer rebuilt from a delta instead of fetched whole. The delta artifact comes from
// the source registry (small: manifest, config, delta blob); the base layer from the TARGET
// registry, which has it; zstd decodes the new tar, arbor's gzip compresses it, and the result is
// handed over only when its sha256 and size are the manifest's descriptor. Anything else is a
// DeltaUnusable with its reason, which the caller turns into a whole-blob transfer.
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { LAYER_GZIP, sameLayerGzip } from '../layers/gzip.js';
import { getBlobBytes } from '../registry/blobs.js';
import type { RegistryClient } from '../registry/client.js';
import { digestOf } from '../registry/digest.js';
import { RegistryError } from '../registry/errors.js';
import { type Descriptor, isIndex } from '../registry/manifest-model.js';
import { DIGEST_MISMATCH } from '../transfer/download.js';
import { shortDigest } from './choose.js';
import { DeltaUnusable } from './errors.js';
import {
  type DeclinedDelta,
  type DeltaRecord,
  deltasAmongReferrers,
  LAYER_DELTA_ARTIFACT,
  LAYER_DELTA_BLOB,
  LAYER_DELTA_CONFIG,
  type PublishedDelta,
  parseDeltaRecord,
} from './format.js';
import { compressTar, downloadBlob, downloadLayerTar } from './layer-files.js';
import { applyZstdPatch, MAX_WINDOW_LOG } from './zstd.js';

export interface RebuildFromDeltaOptions {
  /** Where the new image and its delta artifacts are at the source. */
  sourceRepository: string;
  /** A repository at the target holding the delta's base layer. */
  targetRepository: string;
  /** The layer as the new image's manifest describes it. */
  layer: Descriptor;
  /** The delta chosen for it (chooseLayerSource). */
  delta: PublishedDelta;
  /** Temp files go here (default: the system's temp directory). */
  workDir?: string;
  /** The largest zstd window (decoder memory, 2^n bytes) accepted; default 31 (2 GiB). */
  maxWindowLog?: number;
  signal?: AbortSignal;
}

export interface RebuiltLayer {
  /** The compressed blob, verified: its sha256 and size are the descriptor's. */
  path: string;
  digest: string;
  size: number;
  diffId: string;
  /** Bytes fetched from the source registry: the artifact's manifest, config and delta blob. */
  sourceBytes: number;
  open(): Readable;
  /** Removes the file (and its directory). */
  dispose(): Promise<void>;
}

const RECORD_LIMIT = 1024 * 1024;

/** The deltas (and publishers' decisions against them) listed for an image at the source. */
export async function deltasForImage(
  source: RegistryClient,
  repository: string,
  imageDigest: string,
): Promise<{ deltas: PublishedDelta[]; declined: DeclinedDelta[] }> {
  return deltasAmongReferrers((await source.referrers(repository, imageDigest)).manifests);
}

/** Reads the artifact's manifest and config from the source, and checks they are about `layer`. */
async function readDeltaArtifact(
  source: RegistryClient,
  repository: string,
  delta: PublishedDelta,
): Promise<{ record: DeltaRecord; blob: Descriptor; bytes: number }> {
  let manifest: Awaited<ReturnType<RegistryClient['getManifest']>>;
  let config: Buffer;
  try {
    manifest = await source.getManifest(repository, delta.artifact);
    if (isIndex(manifest.json) || manifest.json.artifactType !== LAYER_DELTA_ARTIFACT)
      throw new DeltaUnusable('malformed', `${shortDigest(delta.artifact)} is not a layer delta artifact`);
    const json = manifest.json;
    const blob = json.layers[0];
    if (
      json.config.mediaType !== LAYER_DELTA_CONFIG ||
      json.layers.length !== 1 ||
      blob?.mediaType !== LAYER_DELTA_BLOB
    )
      throw new DeltaUnusable('malformed', 'the artifact does not hold one delta blob and its record');
    config = await getBlobBytes(source.context, repository, json.config.digest, RECORD_LIMIT);
    if (digestOf(config, json.config.digest) !== json.config.digest)
      throw new DeltaUnusable('delta-corrupt', 'the delta record does not match its digest');
    const record = parseDeltaRecord(config);
    return { record, blob, bytes: manifest.bytes.length + config.length };
  } catch (e) {
    // Gone, garbled, or unreadable after the client's retries: the whole blob is the way left.
    if (e instanceof RegistryError)
      throw new DeltaUnusable('malformed', `reading the delta artifact: ${e.message}`, { cause: e });
    throw e;
  }
}

/** Whether this site can use the record for `layer`, before any big download. */
function checkRecord(
  record: DeltaRecord,
  layer: Descriptor,
  delta: PublishedDelta,
  maxWindowLog: number,
): void {
  if (record.target.digest !== layer.digest || record.target.size !== layer.size)
    throw new DeltaUnusable(
      'malformed',
      `the delta record is about ${shortDigest(record.target.digest)}, not this layer`,
    );
  if (record.base.digest !== delta.base)
    throw new DeltaUnusable('malformed', 'the delta record and its annotations name different bases');
  if (!sameLayerGzip(record.compression))
    throw new DeltaUnusable(
      'unsupported',
      `the layer was compressed with ${JSON.stringify(record.compression)}, this arbor compresses with ${LAYER_GZIP.implementation}`,
    );
  if (record.encoding.windowLog > maxWindowLog)
    throw new DeltaUnusable(
      'unsupported',
      `the delta needs a 2^${record.encoding.windowLog} B window, more than the 2^${maxWindowLog} B allowed here`,
    );
}

export async function rebuildFromDelta(
  source: RegistryClient,
  target: RegistryClient,
  options: RebuildFromDeltaOptions,
): Promise<RebuiltLayer> {
  const { layer, delta, signal } = options;
  if (delta.target !== layer.digest)
    throw new DeltaUnusable('malformed', `the delta is for ${shortDigest(delta.target)}, not this layer`);
  const artifact = await readDeltaArtifact(source, options.sourceRepository, delta);
  const { record } = artifact;
  checkRecord(record, layer, delta, options.maxWindowLog ?? MAX_WINDOW_LOG);
  if (!(await target.headBlob(options.targetRepository, record.base.digest)))
    throw new DeltaUnusable(
      'base-missing',
      `base layer ${shortDigest(record.base.digest)} is not in ${target.registry}/${options.targetRepository}`,
    );

  const dir = await mkdtemp(join(options.workDir ?? tmpdir(), 'arbor-rebuild-'));
  try {
    const deltaPath = join(dir, 'delta.zst');
    const got = await downloadBlob(
      source,
      options.sourceRepository,
      artifact.blob.digest,
      deltaPath,
      signal,
      artifact.blob.size,
    ).catch((e: Error) => {
      if (!(e instanceof RegistryError)) throw e;
      throw new DeltaUnusable('delta-corrupt', `fetching the delta: ${e.message}`, { cause: e });
    });
    if (got.digest !== artifact.blob.digest || got.size !== artifact.blob.size)
      throw new DeltaUnusable(
        'delta-corrupt',
        `the delta blob arrived as ${shortDigest(got.digest)}, ${got.size} B`,
      );

    const basePath = join(dir, 'base.tar');
    const base = await downloadBase(target, options.targetRepository, record, basePath, signal);
    if (base.blobDigest !== record.base.digest || base.diffId !== record.base.diffId)
      throw new DeltaUnusable(
        'base-mismatch',
        `base layer ${shortDigest(record.base.digest)} at the target is not the one the delta was made from`,
      );

    const outPath = join(dir, 'layer.tar.gz');
    const decode = applyZstdPatch(basePath, deltaPath, record.encoding.windowLog, signal);
    const [compressed] = await Promise.all([
      compressTar(decode.stdout, outPath, signal),
      decode.done.catch((e: Error) => {
        throw new DeltaUnusable('delta-corrupt', `zstd could not decode the delta: ${e.message}`, {
          cause: e,
        });
      }),
    ]);
    await rm(basePath, { force: true });
    await rm(deltaPath, { force: true });
    if (compressed.diffId !== record.target.diffId || compressed.tarSize !== record.target.uncompressedSize)
      throw new DeltaUnusable(
        'mismatch',
        `the rebuilt tar is ${shortDigest(compressed.diffId)}, not the layer's diffID`,
      );
    if (compressed.digest !== layer.digest || compressed.size !== layer.size)
      throw new DeltaUnusable(
        'mismatch',
        `the recompressed layer is ${shortDigest(compressed.digest)} (${compressed.size} B), not the manifest's ${shortDigest(layer.digest)} (${layer.size} B)`,
      );
    return {
      path: outPath,
      digest: compressed.digest,
      size: compressed.size,
      diffId: compressed.diffId,
      sourceBytes: artifact.bytes + got.size,
      open: () => createReadStream(outPath),
      dispose: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

async function downloadBase(
  target: RegistryClient,
  repository: string,
  record: DeltaRecord,
  path: string,
  signal?: AbortSignal,
) {
  try {
    return await downloadLayerTar(
      target,
      repository,
      { mediaType: record.base.mediaType, digest: record.base.digest, size: record.base.size },
      path,
      signal,
    );
  } catch (e) {
    if (e instanceof RegistryError && e.status === 404)
      throw new DeltaUnusable(
        'base-missing',
        `base layer ${shortDigest(record.base.digest)} vanished from the target`,
        {
          cause: e,
        },
      );
    // The registry's copy is damaged: its bytes are not its digest's. Either this check or gunzip
    // (below) notices first, depending on how the download's stream ends.
    if (e instanceof RegistryError && e.code === DIGEST_MISMATCH)
      throw new DeltaUnusable('base-mismatch', `base layer at the target is damaged: ${e.summary}`, {
        cause: e,
      });
    if (e instanceof RegistryError) throw e;
    // The bytes at the target are not a layer of the recorded type (gunzip failed).
    throw new DeltaUnusable(
      'base-mismatch',
      `base layer at the target is unreadable: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
}
