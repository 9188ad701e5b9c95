import { describe, expect, it } from 'vitest';
import type { LayerDeltaResult } from '../../../src/delta/publish.js';
import { summarizeDeltas } from '../../../src/delta/summary.js';

const row = (
  outcome: LayerDeltaResult['outcome'],
  extra: Partial<LayerDeltaResult> = {},
): LayerDeltaResult => ({
  platform: 'linux/amd64',
  subject: 'sha256:subject',
  target: `sha256:${outcome}`,
  targetSize: 4 * 1024 * 1024,
  outcome,
  reason: outcome,
  seconds: 0,
  ...extra,
});

describe('summarizeDeltas', () => {
  it('counts layers the previous release already has as unchanged, not as published deltas', () => {
    expect(summarizeDeltas('2025.1-p6', [row('shared'), row('shared'), row('shared')])).toBe(
      'Deltas against release 2025.1-p6: 0 published, 3 layer(s) unchanged, 0 declined, 0 without a counterpart, 0 failed.',
    );
  });

  it('sums the bytes of deltas made now and of those found published, and lists every failure', () => {
    const text = summarizeDeltas('r1', [
      row('published', { deltaSize: 512 * 1024 }),
      row('reused', { deltaSize: 512 * 1024 }),
      row('shared'),
      row('declined'),
      row('unpaired'),
      row('failed', { reason: 'keystone: registry answered 500' }),
    ]);
    expect(text).toBe(
      [
        'Deltas against release r1: 2 published (1.0 MiB for 8.0 MiB of layers), 1 of them already there, 1 layer(s) unchanged, 1 declined, 1 without a counterpart, 1 failed.',
        '  delta failed: keystone: registry answered 500',
      ].join('\n'),
    );
  });
});
