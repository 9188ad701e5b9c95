// The layer-delta artifact: what the publisher writes, what a site reads back, what it refuses.
import { describe, expect, it } from 'vitest';
import { DeltaUnusable } from '../../../src/delta/errors.js';
import {
  ANNOTATIONS,
  type DeltaRecord,
  declinedArtifactSpec,
  deltaArtifactSpec,
  deltasAmongReferrers,
  LAYER_DELTA_ARTIFACT,
  LAYER_DELTA_BLOB,
  LAYER_DELTA_CONFIG,
  parseDeltaRecord,
} from '../../../src/delta/format.js';
import { patchParameters } from '../../../src/delta/zstd.js';
import { LAYER_GZIP } from '../../../src/layers/gzip.js';
import { artifactManifest } from '../../../src/registry/attach.js';
import type { Descriptor } from '../../../src/registry/manifest-model.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const subject: Descriptor = {
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: d('5'),
  size: 900,
};
const record: DeltaRecord = {
  version: 1,
  base: {
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    digest: d('b'),
    size: 60_000_000,
    diffId: d('1'),
    uncompressedSize: 170_000_000,
  },
  target: {
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    digest: d('a'),
    size: 60_100_000,
    diffId: d('2'),
    uncompressedSize: 170_020_000,
  },
  encoding: { ...patchParameters(170_000_000, 170_020_000)!, tool: 'zstd 1.5.4' },
  compression: LAYER_GZIP,
};

describe('the delta artifact', () => {
  it('is an OCI artifact about the new image: the record as config, the delta as its one blob, the pair in annotations', () => {
    const spec = deltaArtifactSpec(subject, record, { digest: d('c'), size: 1_480_000 });
    const { json } = artifactManifest(spec);
    expect(json).toMatchObject({
      artifactType: LAYER_DELTA_ARTIFACT,
      config: { mediaType: LAYER_DELTA_CONFIG },
      layers: [{ mediaType: LAYER_DELTA_BLOB, digest: d('c'), size: 1_480_000 }],
      subject,
      annotations: {
        [ANNOTATIONS.base]: d('b'),
        [ANNOTATIONS.target]: d('a'),
        [ANNOTATIONS.encoding]: 'zstd-patch-from',
        [ANNOTATIONS.size]: '1480000',
      },
    });
    expect(parseDeltaRecord(spec.config!.bytes as Buffer)).toEqual(record);
  });

  it('is found among referrers by its annotations; other artifacts and incomplete entries are ignored', () => {
    const delta = artifactManifest(deltaArtifactSpec(subject, record, { digest: d('c'), size: 1_480_000 }));
    const declined = declinedArtifactSpec(subject, {
      version: 1,
      target: { digest: d('7'), size: 5 },
      reason: 'not-reproducible',
      detail: 'not reproducible: compressed by another tool',
    });
    const referrers: Descriptor[] = [
      {
        mediaType: 'm',
        digest: d('e'),
        size: 1,
        artifactType: LAYER_DELTA_ARTIFACT,
        annotations: delta.json.annotations as Record<string, string>,
      },
      {
        mediaType: 'm',
        digest: d('8'),
        size: 1,
        artifactType: declined.artifactType,
        annotations: declined.annotations!,
      },
      {
        mediaType: 'm',
        digest: d('9'),
        size: 1,
        artifactType: 'application/vnd.dev.cosign.simplesigning.v1+json',
      },
      {
        mediaType: 'm',
        digest: d('6'),
        size: 1,
        artifactType: LAYER_DELTA_ARTIFACT,
        annotations: { [ANNOTATIONS.target]: 'sha256:short' },
      },
      {
        mediaType: 'm',
        digest: d('4'),
        size: 1,
        artifactType: declined.artifactType,
        annotations: { ...declined.annotations, [ANNOTATIONS.declined]: 'whim' },
      },
    ];
    expect(deltasAmongReferrers(referrers)).toEqual({
      deltas: [
        { artifact: d('e'), base: d('b'), target: d('a'), encoding: 'zstd-patch-from', size: 1_480_000 },
      ],
      declined: [
        {
          artifact: d('8'),
          target: d('7'),
          reason: 'not-reproducible',
          detail: 'not reproducible: compressed by another tool',
        },
      ],
    });
  });

  it('refuses records it cannot use, saying how', () => {
    const bad = (value: unknown) => {
      try {
        parseDeltaRecord(Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)));
      } catch (e) {
        expect(e).toBeInstanceOf(DeltaUnusable);
        return `${(e as DeltaUnusable).reason}: ${(e as Error).message}`;
      }
      return 'accepted';
    };
    expect(bad('{')).toMatch(/^malformed: delta record: not JSON/);
    expect(bad({ ...record, version: 2 })).toBe('unsupported: delta record version 2');
    expect(bad({ ...record, encoding: { ...record.encoding, encoding: 'bsdiff' } })).toBe(
      'unsupported: delta encoding "bsdiff" is not supported',
    );
    expect(bad({ ...record, encoding: { ...record.encoding, windowLog: 40 } })).toBe(
      'malformed: delta record: encoding.windowLog 40 is out of range',
    );
    expect(bad({ ...record, base: { ...record.base, diffId: 'md5:x' } })).toBe(
      'malformed: delta record: base.diffId is not a sha256 digest',
    );
    expect(bad({ ...record, target: { ...record.target, size: -1 } })).toBe(
      'malformed: delta record: target.size is not a size',
    );
    expect(bad({ ...record, compression: undefined })).toBe(
      'malformed: delta record: compression is missing',
    );
  });
});

describe('zstd parameters', () => {
  it('size the window to the layers as zstd --patch-from does, and the tables to the window, within 2 GiB', () => {
    expect(patchParameters(170_380_800, 170_401_280)).toEqual({
      encoding: 'zstd-patch-from',
      windowLog: 28,
      level: 19,
      strategy: 'btlazy2',
      chainLog: 27,
      hashLog: 25,
    });
    expect(patchParameters(1000, 10)).toMatchObject({ windowLog: 10, chainLog: 10, hashLog: 8 });
    expect(patchParameters(2 ** 30, 5)).toMatchObject({ windowLog: 31, chainLog: 27 });
    expect(patchParameters(2 ** 31, 5)).toBeUndefined();
  });
});
