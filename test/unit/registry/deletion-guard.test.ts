// Deletion marker names on plain values: what a writer counts as a live marker.
import { describe, expect, it } from 'vitest';
import {
  isMarkerTag,
  listingIsConclusive,
  liveMarkers,
  markerExpiry,
} from '../../../src/registry/deletion-guard.js';

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

  it("a writer's listing: timely and marker-free is conclusive; a late one only when it names every tag", () => {
    const now = expires - 1;
    expect(listingIsConclusive(['2025.1', 'fp-1'], ['2025.1-r2'], true, now)).toBe(true);
    expect(listingIsConclusive(['2025.1', 'fp-1', marker], ['2025.1'], true, now)).toBe(false);
    expect(listingIsConclusive(['2025.1', '2025.1-r2', 'fp-1'], ['2025.1-r2', 'fp-1'], false, now)).toBe(
      true,
    );
    // Late, and a tag is not listed: a DELETE may have taken it; late with a live marker: wait.
    expect(listingIsConclusive(['2025.1', 'fp-1'], ['2025.1-r2', 'fp-1'], false, now)).toBe(false);
    expect(listingIsConclusive(['2025.1-r2', marker], ['2025.1-r2'], false, now)).toBe(false);
    // An expired marker (a killed retention) is no marker.
    expect(listingIsConclusive(['2025.1-r2', marker], ['2025.1-r2'], false, expires)).toBe(true);
  });
});
