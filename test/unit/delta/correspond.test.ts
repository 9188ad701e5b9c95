// Which old layer each new layer gets a delta against: by Dockerfile step, then position, then size.
import { describe, expect, it } from 'vitest';
import {
  type ImageLayers,
  layerCommands,
  MIN_DELTA_LAYER_BYTES,
  normalizeCommand,
  planLayerDeltas,
} from '../../../src/delta/correspond.js';
import type { Descriptor } from '../../../src/registry/manifest-model.js';

const MB = 1024 * 1024;
const layer = (name: string, size: number): Descriptor => ({
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  digest: `sha256:${name.padEnd(64, '0')}`,
  size,
});
const image = (layers: Descriptor[], commands?: string[]): ImageLayers => ({
  layers,
  ...(commands ? { commands } : {}),
});
const pairs = (plan: ReturnType<typeof planLayerDeltas>) =>
  plan.pairs.map((p) => [p.target.digest.slice(7, 9), p.base.digest.slice(7, 9), p.pairedBy, p.candidate]);

describe('planLayerDeltas', () => {
  it('pairs a changed base layer by position and leaves shared layers alone', () => {
    const shared = layer('aa', 5 * MB);
    const old = image([layer('b1', 60 * MB), shared, layer('c1', 2 * MB)]);
    const next = image([layer('b2', 61 * MB), shared, layer('c2', 2 * MB)]);
    const plan = planLayerDeltas(next, [old]);
    expect(pairs(plan)).toEqual([
      ['b2', 'b1', 'position', 0],
      ['c2', 'c1', 'position', 0],
    ]);
    expect(plan.shared).toEqual([shared]);
    expect(plan.unpaired).toEqual([]);
  });

  it('prefers the same Dockerfile step over the position (a layer inserted before it)', () => {
    const old = image(
      [layer('b1', 60 * MB), layer('c1', 2 * MB)],
      ['ADD file:0123456789abcdef01 in /', 'RUN make'],
    );
    const next = image(
      [layer('b2', 60 * MB), layer('n1', 3 * MB), layer('c2', 2 * MB)],
      ['ADD file:fedcba98765432100f in /', 'RUN apt-get install x', 'RUN make'],
    );
    const plan = planLayerDeltas(next, [old]);
    expect(pairs(plan)).toEqual([
      ['b2', 'b1', 'same-command', 0],
      ['c2', 'c1', 'same-command', 0],
    ]);
    expect(plan.unpaired.map((u) => [u.target.digest.slice(7, 9), u.reason])).toEqual([
      ['n1', 'no corresponding layer in the previous image(s)'],
    ]);
  });

  it('falls back to the closest size within a factor of 2, and pairs no layer with a very different one', () => {
    const old = image([layer('x1', 10 * MB), layer('y1', 100 * MB)]);
    const next = image([layer('y2', 90 * MB), layer('x2', 12 * MB), layer('q2', 30 * MB)]);
    const plan = planLayerDeltas(next, [old]);
    // The two layers swapped places: at each position the old layer is 8–9x the size, so by size;
    // q2 is left with nothing free.
    expect(pairs(plan)).toEqual([
      ['y2', 'y1', 'size', 0],
      ['x2', 'x1', 'size', 0],
    ]);
    expect(plan.unpaired.map((u) => u.target.digest.slice(7, 9))).toEqual(['q2']);
  });

  it('uses each old layer once per candidate, and pairs with every candidate (sites a few releases behind)', () => {
    const r1 = image([layer('b1', 60 * MB)]);
    const r2 = image([layer('b2', 60 * MB)]);
    const r3 = image([layer('b3', 60 * MB), layer('e3', 61 * MB)]);
    expect(pairs(planLayerDeltas(r3, [r2, r1]))).toEqual([
      ['b3', 'b2', 'position', 0],
      ['b3', 'b1', 'position', 1],
    ]);
  });

  it('lists the same base once when two candidates share it', () => {
    const r1 = image([layer('b1', 60 * MB)]);
    expect(planLayerDeltas(image([layer('b2', 60 * MB)]), [r1, r1]).pairs).toHaveLength(1);
  });

  it('sends small layers whole and says why; without candidates nothing is paired', () => {
    const small = layer('s2', MIN_DELTA_LAYER_BYTES - 1);
    const plan = planLayerDeltas(image([small, layer('b2', MB)]), []);
    expect(plan.pairs).toEqual([]);
    expect(plan.unpaired.map((u) => u.reason)).toEqual([
      `small layer (${MIN_DELTA_LAYER_BYTES - 1} B): sent whole`,
      'no previous image to compute a delta against',
    ]);
  });
});

describe('layer commands', () => {
  it('maps non-empty history steps to layers; comparing them ignores content hashes and spacing', () => {
    const config = {
      history: [
        { created_by: '/bin/sh -c #(nop) ADD file:0123456789abcdef0123 in / ' },
        { created_by: '/bin/sh -c #(nop)  CMD ["bash"]', empty_layer: true },
        { created_by: 'RUN  apt-get   update' },
      ],
    };
    expect(layerCommands(config, 2)).toEqual([
      '/bin/sh -c #(nop) ADD file:0123456789abcdef0123 in / ',
      'RUN  apt-get   update',
    ]);
    expect(layerCommands(config, 3)).toBeUndefined();
    expect(layerCommands({}, 1)).toBeUndefined();
    expect(normalizeCommand('COPY dir:abcdef0123456789abcd in /x')).toBe('COPY dir: in /x');
  });
});
