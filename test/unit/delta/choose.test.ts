// Where a site takes each layer from, with the reason its plan shows.
import { describe, expect, it } from 'vitest';
import { chooseLayerSource, wholeAfterFailedDelta } from '../../../src/delta/choose.js';
import { DeltaUnusable } from '../../../src/delta/errors.js';
import type { PublishedDelta } from '../../../src/delta/format.js';
import type { Descriptor } from '../../../src/registry/manifest-model.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const layer: Descriptor = {
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  digest: d('a'),
  size: 60_000_000,
};
const delta = (base: string, size: number, extra: Partial<PublishedDelta> = {}): PublishedDelta => ({
  artifact: d('f'),
  base: d(base),
  target: layer.digest,
  encoding: 'zstd-patch-from',
  size,
  ...extra,
});

describe('chooseLayerSource', () => {
  it('takes a layer the target has as it is', () => {
    expect(
      chooseLayerSource(layer, {
        presentAtTarget: new Set([layer.digest]),
        deltasAvailable: [delta('b', 10)],
        baseLayersAtTarget: new Set([d('b')]),
      }),
    ).toEqual({
      kind: 'present',
      reason: 'already at the target',
    });
  });

  it('rebuilds from the smallest delta whose base the target has', () => {
    const choice = chooseLayerSource(layer, {
      presentAtTarget: false,
      deltasAvailable: [
        delta('b', 900_000),
        delta('c', 700_000),
        delta('e', 1000),
        delta('b', 5, { target: d('9') }),
      ],
      baseLayersAtTarget: new Set([d('b'), d('c')]),
    });
    expect(choice).toEqual({
      kind: 'delta',
      delta: delta('c', 700_000),
      bytes: 700_000,
      reason: `delta from sha256:cccccccccccc: 700000 B instead of 60000000 B`,
    });
  });

  it('fetches whole, saying why, when no delta can serve', () => {
    const whole = (inputs: Partial<Parameters<typeof chooseLayerSource>[1]>, target = layer) =>
      chooseLayerSource(target, {
        presentAtTarget: false,
        deltasAvailable: [],
        baseLayersAtTarget: new Set(),
        ...inputs,
      });
    expect(whole({})).toEqual({
      kind: 'whole',
      bytes: 60_000_000,
      reason: 'no delta published for this layer',
    });
    expect(whole({ deltasAvailable: [delta('b', 10), delta('c', 10)] }).reason).toBe(
      'no delta base is at the target (deltas exist from sha256:bbbbbbbbbbbb, sha256:cccccccccccc)',
    );
    expect(
      whole({
        deltasAvailable: [delta('b', 10, { encoding: 'bsdiff' })],
        baseLayersAtTarget: new Set([d('b')]),
      }).reason,
    ).toBe('delta encoding not supported here: bsdiff');
    expect(
      whole({ deltasAvailable: [delta('b', 70_000_000)], baseLayersAtTarget: new Set([d('b')]) }).reason,
    ).toBe('the delta (70000000 B) is not smaller than the layer (60000000 B)');
    expect(
      whole({
        declined: [
          {
            artifact: d('e'),
            target: layer.digest,
            reason: 'not-reproducible',
            detail: 'not reproducible: x',
          },
        ],
      }).reason,
    ).toBe('no delta: not reproducible: x');
    expect(whole({}, { ...layer, size: 1000 }).reason).toBe('small layer (1000 B): sent whole');
    // An image's config is not a layer, whatever its size.
    expect(
      whole({}, { ...layer, mediaType: 'application/vnd.oci.image.config.v1+json', size: 2654 }).reason,
    ).toBe('image config (2654 B): sent whole');
  });

  it('turns a failed rebuild into a whole transfer with the failure in the reason', () => {
    const failure = new DeltaUnusable('base-mismatch', 'base layer differs');
    expect(wholeAfterFailedDelta(layer, delta('b', 10), failure)).toEqual({
      kind: 'whole',
      bytes: 60_000_000,
      reason: 'delta from sha256:bbbbbbbbbbbb unusable (base-mismatch: base layer differs): sent whole',
    });
  });
});
