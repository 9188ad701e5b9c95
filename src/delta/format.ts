// The layer-delta artifact (docs/deltas.md): an OCI artifact whose subject is the NEW image, one
// blob (the delta), a config naming both layers, the encoding and the compressor, and manifest
// annotations that repeat the pair so a site can choose from the referrers list alone. A publisher
// that decided against a delta records that too (a "declined" artifact), so a rerun does not
// compute it again and a site can say why it fetches the layer whole. Pure: no registry here.
import type { LayerGzipParameters } from '../layers/gzip.js';
import type { ArtifactSpec } from '../registry/attach.js';
import type { Descriptor } from '../registry/manifest-model.js';
import { DeltaUnusable } from './errors.js';
import { MAX_WINDOW_LOG, ZSTD_PATCH_ENCODING, type ZstdPatchParameters } from './zstd.js';

export const LAYER_DELTA_ARTIFACT = 'application/vnd.arbor.layer-delta.v1';
export const LAYER_DELTA_DECLINED_ARTIFACT = 'application/vnd.arbor.layer-delta.declined.v1';
export const LAYER_DELTA_CONFIG = 'application/vnd.arbor.layer-delta.config.v1+json';
export const LAYER_DELTA_BLOB = 'application/vnd.arbor.layer-delta.zstd-patch-from.v1';

export const ANNOTATIONS = {
  base: 'org.arbor.delta.base',
  target: 'org.arbor.delta.target',
  encoding: 'org.arbor.delta.encoding',
  size: 'org.arbor.delta.size',
  declined: 'org.arbor.delta.declined',
  detail: 'org.arbor.delta.detail',
} as const;

/** One layer as the record names it: the compressed blob and the tar inside. */
export interface LayerRecord {
  mediaType: string;
  digest: string;
  size: number;
  diffId: string;
  uncompressedSize: number;
}

export interface DeltaEncoding extends ZstdPatchParameters {
  /** The tool that wrote it (`zstd 1.5.4`); informational, any zstd ≥ 1.4.5 decodes it. */
  tool: string;
}

/** The config blob of a delta artifact. */
export interface DeltaRecord {
  version: 1;
  base: LayerRecord;
  target: LayerRecord;
  encoding: DeltaEncoding;
  /** How the target's tar is compressed back into its blob (LAYER_GZIP). */
  compression: LayerGzipParameters;
}

export type DeclineReason =
  /** The delta was at least the given share of the new blob. */
  | 'not-worth'
  /** The new layer's blob is not what arbor's compressor makes of its tar. */
  | 'not-reproducible'
  /** A layer beyond zstd's 2 GiB window, or a media type arbor cannot rebuild. */
  | 'unsupported';

/** The config blob of a declined artifact. */
export interface DeclinedRecord {
  version: 1;
  /** Absent when the new layer alone decided (not reproducible). */
  base?: Pick<LayerRecord, 'digest' | 'size'>;
  target: Pick<LayerRecord, 'digest' | 'size'>;
  reason: DeclineReason;
  detail: string;
  /** The delta's size when one was computed. */
  deltaSize?: number;
}

/** A delta as listed among the new image's referrers. */
export interface PublishedDelta {
  /** The artifact manifest's digest. */
  artifact: string;
  base: string;
  target: string;
  encoding: string;
  /** Bytes of the delta blob. */
  size: number;
}

export interface DeclinedDelta {
  artifact: string;
  base?: string;
  target: string;
  reason: DeclineReason;
  detail: string;
}

function jsonBlob(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

/** The artifact for a delta blob already uploaded to the repository. */
export function deltaArtifactSpec(
  subject: Descriptor,
  record: DeltaRecord,
  delta: { digest: string; size: number },
): ArtifactSpec {
  return {
    artifactType: LAYER_DELTA_ARTIFACT,
    subject,
    config: { mediaType: LAYER_DELTA_CONFIG, bytes: jsonBlob(record) },
    blobs: [{ mediaType: LAYER_DELTA_BLOB, digest: delta.digest, size: delta.size }],
    annotations: {
      [ANNOTATIONS.base]: record.base.digest,
      [ANNOTATIONS.target]: record.target.digest,
      [ANNOTATIONS.encoding]: record.encoding.encoding,
      [ANNOTATIONS.size]: String(delta.size),
    },
  };
}

export function declinedArtifactSpec(subject: Descriptor, record: DeclinedRecord): ArtifactSpec {
  return {
    artifactType: LAYER_DELTA_DECLINED_ARTIFACT,
    subject,
    config: { mediaType: LAYER_DELTA_CONFIG, bytes: jsonBlob(record) },
    blobs: [],
    annotations: {
      ...(record.base ? { [ANNOTATIONS.base]: record.base.digest } : {}),
      [ANNOTATIONS.target]: record.target.digest,
      [ANNOTATIONS.declined]: record.reason,
      [ANNOTATIONS.detail]: record.detail,
    },
  };
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const DECLINE_REASONS: readonly string[] = ['not-worth', 'not-reproducible', 'unsupported'];

/**
 * The deltas and declined decisions among an image's referrers (other artifacts, and entries
 * whose annotations are incomplete, are left out: a site then simply has no delta for that layer).
 */
export function deltasAmongReferrers(referrers: readonly Descriptor[]): {
  deltas: PublishedDelta[];
  declined: DeclinedDelta[];
} {
  const deltas: PublishedDelta[] = [];
  const declined: DeclinedDelta[] = [];
  for (const d of referrers) {
    const a = d.annotations ?? {};
    const base = a[ANNOTATIONS.base];
    const target = a[ANNOTATIONS.target];
    if (!target || !DIGEST.test(target) || (base !== undefined && !DIGEST.test(base))) continue;
    if (d.artifactType === LAYER_DELTA_ARTIFACT) {
      const size = Number(a[ANNOTATIONS.size]);
      const encoding = a[ANNOTATIONS.encoding];
      if (!base || !encoding || !Number.isSafeInteger(size) || size < 0) continue;
      deltas.push({ artifact: d.digest, base, target, encoding, size });
    } else if (d.artifactType === LAYER_DELTA_DECLINED_ARTIFACT) {
      const reason = a[ANNOTATIONS.declined] ?? '';
      if (!DECLINE_REASONS.includes(reason)) continue;
      declined.push({
        artifact: d.digest,
        ...(base ? { base } : {}),
        target,
        reason: reason as DeclineReason,
        detail: a[ANNOTATIONS.detail] ?? reason,
      });
    }
  }
  return { deltas, declined };
}

function malformed(why: string): DeltaUnusable {
  return new DeltaUnusable('malformed', `delta record: ${why}`);
}

function layerRecord(value: unknown, name: string): LayerRecord {
  const r = value as Record<string, unknown> | null;
  if (typeof r !== 'object' || r === null) throw malformed(`${name} is missing`);
  for (const key of ['digest', 'diffId'] as const)
    if (typeof r[key] !== 'string' || !DIGEST.test(r[key] as string))
      throw malformed(`${name}.${key} is not a sha256 digest`);
  for (const key of ['size', 'uncompressedSize'] as const)
    if (!Number.isSafeInteger(r[key]) || (r[key] as number) < 0)
      throw malformed(`${name}.${key} is not a size`);
  if (typeof r.mediaType !== 'string') throw malformed(`${name}.mediaType is missing`);
  return {
    mediaType: r.mediaType,
    digest: r.digest as string,
    size: r.size as number,
    diffId: r.diffId as string,
    uncompressedSize: r.uncompressedSize as number,
  };
}

function encodingRecord(value: unknown): DeltaEncoding {
  const e = value as Record<string, unknown> | null;
  if (typeof e !== 'object' || e === null) throw malformed('encoding is missing');
  if (e.encoding !== ZSTD_PATCH_ENCODING)
    throw new DeltaUnusable('unsupported', `delta encoding ${JSON.stringify(e.encoding)} is not supported`);
  const windowLog = e.windowLog;
  if (
    !Number.isSafeInteger(windowLog) ||
    (windowLog as number) < 10 ||
    (windowLog as number) > MAX_WINDOW_LOG
  )
    throw malformed(`encoding.windowLog ${JSON.stringify(windowLog)} is out of range`);
  return {
    encoding: ZSTD_PATCH_ENCODING,
    windowLog: windowLog as number,
    level: Number(e.level),
    strategy: 'btlazy2',
    chainLog: Number(e.chainLog),
    hashLog: Number(e.hashLog),
    tool: typeof e.tool === 'string' ? e.tool : 'zstd',
  };
}

/** Parses and checks a delta artifact's config blob; DeltaUnusable when arbor cannot use it. */
export function parseDeltaRecord(bytes: Buffer): DeltaRecord {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw malformed(`not JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null) throw malformed('not an object');
  if (json.version !== 1) throw new DeltaUnusable('unsupported', `delta record version ${json.version}`);
  const compression = json.compression;
  if (typeof compression !== 'object' || compression === null) throw malformed('compression is missing');
  return {
    version: 1,
    base: layerRecord(json.base, 'base'),
    target: layerRecord(json.target, 'target'),
    encoding: encodingRecord(json.encoding),
    compression: compression as LayerGzipParameters,
  };
}
