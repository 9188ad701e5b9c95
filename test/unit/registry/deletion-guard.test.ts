// Deletion marker names on plain values: what a writer counts as a live marker.
import { describe, expect, it } from 'vitest';
import {
  isMarkerTag,
  isScopeMarkerRepository,
  listingIsConclusive,
  liveMarkers,
  markerExpiry,
  SETTLE_MS,
  SharedScopeListings,
  scopeListingClears,
  scopeMarkerRepository,
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

describe('scope markers', () => {
  const expires = Date.UTC(2026, 10, 29, 20, 0, 0);
  const marker = `arbor-deleting-${expires / 1000}-0a1b2c3d4e5f`;

  it('the scope of a repository is its parent path', () => {
    expect(scopeMarkerRepository('openstack/keystone')).toBe('openstack/arbor-deleting');
    expect(scopeMarkerRepository('a/b/c')).toBe('a/b/arbor-deleting');
    expect(scopeMarkerRepository('top')).toBe('arbor-deleting');
    expect(isScopeMarkerRepository('openstack/arbor-deleting')).toBe(true);
    expect(isScopeMarkerRepository('arbor-deleting')).toBe(true);
    expect(isScopeMarkerRepository('openstack/not-arbor-deleting')).toBe(false);
  });

  it('a scope listing clears a repository when it came in time and shows no live marker', () => {
    const now = expires - 1;
    const at = (answeredAt: number, tags: string[] | undefined) => ({
      tags,
      sentAt: answeredAt - 5,
      answeredAt,
    });
    expect(scopeListingClears(at(100 + SETTLE_MS - 1, []), 100, now)).toBe(true);
    // Late: a retention may have raised, deleted and lowered within it.
    expect(scopeListingClears(at(100 + SETTLE_MS, []), 100, now)).toBe(false);
    expect(scopeListingClears(at(200, [marker]), 100, now)).toBe(false);
    expect(scopeListingClears(at(200, [marker]), 100, expires)).toBe(true);
    // A failed listing clears nothing.
    expect(scopeListingClears(at(200, undefined), 100, now)).toBe(false);
  });

  it('writers share listings: each gets one sent after it asked, one in flight at a time', async () => {
    const answers: Array<(tags: string[]) => void> = [];
    const shared = new SharedScopeListings(() => new Promise<string[]>((resolve) => answers.push(resolve)));
    const first = shared.after(0);
    // Asked after the first left: it waits for the next, as does every caller until then.
    const second = shared.after(0);
    const third = shared.after(0);
    expect(answers).toHaveLength(1);
    answers[0]!(['v1']);
    const one = await first;
    expect(one.tags).toEqual(['v1']);
    await new Promise((r) => setTimeout(r, 0));
    expect(answers).toHaveLength(2);
    answers[1]!([marker]);
    const [two, three] = await Promise.all([second, third]);
    expect(two).toBe(three);
    expect(two.tags).toEqual([marker]);
    expect(two.sentAt).toBeGreaterThanOrEqual(one.answeredAt);
    expect(shared.sent).toBe(2);
  });

  it('while the burst has writes in flight, a listing waits for the writers to come until the earliest must have it', async () => {
    let quiet = false;
    const { shared, sentAt } = timedListings(() => quiet);
    const asked = performance.now();
    const first = shared.after(asked + 60);
    const second = shared.after(asked + 500);
    await new Promise((r) => setTimeout(r, 20));
    expect(sentAt).toHaveLength(0);
    const [one, two] = await Promise.all([first, second]);
    // One listing for both, sent at the earliest caller's time.
    expect(one).toBe(two);
    expect(sentAt).toHaveLength(1);
    // (A timer may fire up to a millisecond early against performance.now().)
    expect(sentAt[0]! - asked).toBeGreaterThanOrEqual(55);
    expect(sentAt[0]! - asked).toBeLessThan(450);
    // The burst is quiet: a caller's listing goes at once; one already waiting goes on flush.
    const third = shared.after(performance.now() + 10_000);
    await new Promise((r) => setTimeout(r, 20));
    expect(sentAt).toHaveLength(1);
    quiet = true;
    shared.flush();
    expect((await third).tags).toEqual(['v1']);
    expect(sentAt).toHaveLength(2);
    await shared.after(performance.now() + 10_000);
    expect(shared.sent).toBe(3);
  });

  it('a caller whose deadline comes before those already waiting brings the listing forward', async () => {
    const { shared, sentAt } = timedListings(() => false);
    const asked = performance.now();
    const late = shared.after(asked + 2_000);
    const alsoLate = shared.after(asked + 3_000);
    const early = shared.after(asked + 40);
    const [one, two, three] = await Promise.all([late, alsoLate, early]);
    expect(one).toBe(two);
    expect(two).toBe(three);
    expect(sentAt).toHaveLength(1);
    expect(sentAt[0]! - asked).toBeGreaterThanOrEqual(35);
    expect(sentAt[0]! - asked).toBeLessThan(1_500);
  });

  it('a failed listing answers with no tags, and the next is sent', async () => {
    let calls = 0;
    const shared = new SharedScopeListings(async () => {
      calls++;
      if (calls === 1) throw new Error('denied');
      return [];
    });
    expect((await shared.after(0)).tags).toBeUndefined();
    expect((await shared.after(performance.now() + 1)).tags).toEqual([]);
    expect(calls).toBe(2);
  });
});

/** Shared listings of `['v1']` that note when each was sent. */
function timedListings(quiet: () => boolean) {
  const sentAt: number[] = [];
  const shared = new SharedScopeListings(async () => {
    sentAt.push(performance.now());
    return ['v1'];
  }, quiet);
  return { shared, sentAt };
}
