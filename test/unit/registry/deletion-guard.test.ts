// Deletion marker names on plain values: what a writer counts as a live marker.
import { describe, expect, it } from 'vitest';
import { isMarkerTag, liveMarkers, markerExpiry } from '../../../src/registry/deletion-guard.js';

describe('deletion markers', () => {
  const expires = Date.UTC(2026, 10, 29, 20, 0, 0);
  const marker = `arbor-deleting-${expires / 1000}-0a1b2c3d4e5f`;

  it('reads the expiry from the tag', () => {
    expect(isMarkerTag(marker)).toBe(true);
    expect(markerExpiry(marker)).toBe(expires);
    expect(isMarkerTag('release')).toBe(false);
    expect(markerExpiry('arbor-deleting-soon-abc')).toBeUndefined();
  });

  it('a marker is live until its expiry; a tag that only looks like one never is', () => {
    const tags = ['release', marker, 'arbor-deleting-whenever-xyz', 'fp-0123'];
    expect(liveMarkers(tags, expires - 1)).toEqual([marker]);
    expect(liveMarkers(tags, expires)).toEqual([]);
  });
});
