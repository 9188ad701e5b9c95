// The re-check before a DELETE, pure: which tags to ask about again, and what their answers mean
// for each planned deletion. apply.ts does the asking.
//
// Distribution has no conditional DELETE: deleting a digest removes every tag that points at it
// *at that moment*, whoever wrote it. So just before each small batch of deletions, retention
// lists the repository's tags again and HEADs the tags whose digest could matter, and a digest
// that a tag reached since the plan stays: a tag arbor did not see there when it planned was
// written since, which makes it recent, and the grace period protects recent writes.

/** Tags to HEAD now, in the order listed. */
export function tagsToCheck(input: {
  /** The repository's tag list, just read. */
  listed: readonly string[];
  /** What each tag pointed at when this apply last asked (a HEAD), before this check. */
  known: ReadonlyMap<string, string>;
  /** Digests this batch is about to delete, or to remove one tag from. */
  batch: ReadonlySet<string>;
  /** Digests still planned for deletion in later batches of this repository. */
  later: ReadonlySet<string>;
}): string[] {
  const { listed, known, batch, later } = input;
  return listed.filter((tag) => {
    const digest = known.get(tag);
    // New since the last listing: it may point anywhere, the batch included.
    if (digest === undefined) return true;
    // On a digest of this batch: it must still be there (and none other may have joined it).
    if (batch.has(digest)) return true;
    // On a digest that stays (kept, or saved earlier in this run): this is where a rollback or a
    // promotion moves a tag from, onto an old digest. Only the tags of digests that later
    // batches delete are left for their own batch (see docs/retention.md, "What remains").
    return !later.has(digest);
  });
}

/** What a planned deletion's digest looks like right after the check. */
export interface RecheckView {
  /** Every tag pointing at the digest now, with what arbor knew of it before the check. */
  pointing: ReadonlyArray<{ tag: string; before: TagBefore }>;
  /** Tags the plan saw on the digest that point at another digest now. */
  elsewhere: ReadonlyArray<{ tag: string; digest: string }>;
  /** Tags the plan saw on the digest that are no longer listed. */
  gone: readonly string[];
}

/** A tag's state before the check: the digest it pointed at when this run last asked, or `new` (not listed then). */
export type TagBefore = { digest: string } | 'new';

export type Verdict = { action: 'delete' } | { action: 'keep'; reason: string };

/** The planned deletion as the re-check needs it: the whole digest (tag null) or one tag of it. */
export interface PlannedTarget {
  digest: string;
  tag: string | null;
  /** The tags the plan saw on the digest. */
  tags: readonly string[];
}

/**
 * Delete, or keep and say why. A digest is deleted only when exactly the tags the plan saw (or
 * fewer: one deleted meanwhile is nothing to protect) still point at it. A tag-only deletion
 * needs every tag the plan saw still in place, so the digest keeps at least one.
 */
export function judge(target: PlannedTarget, view: RecheckView): Verdict {
  const planned = new Set(target.tags);
  const arrived = view.pointing.filter((p) => !planned.has(p.tag));
  if (arrived.length > 0)
    return {
      action: 'keep',
      reason: arrived.map((p) => arrivalReason(p.tag, p.before, target.digest)).join('; '),
    };
  if (view.elsewhere.length > 0) {
    const { tag, digest } = view.elsewhere[0]!;
    return {
      action: 'keep',
      reason: `tag ${tag} now points at ${short(digest)}, not ${short(target.digest)}`,
    };
  }
  if (target.tag !== null) {
    if (view.gone.includes(target.tag))
      return { action: 'keep', reason: `tag ${target.tag} disappeared since the plan` };
    if (view.gone.length > 0)
      return {
        action: 'keep',
        reason: `tag ${view.gone[0]} disappeared since the plan; removing ${target.tag} could leave ${short(target.digest)} without a tag`,
      };
  }
  return { action: 'delete' };
}

function arrivalReason(tag: string, before: TagBefore, digest: string): string {
  const recent = 'written since the plan, so within the grace period';
  if (before === 'new') return `tag ${tag} appeared on it while retention ran (${recent})`;
  if (before.digest === digest) return `tag ${tag} points at it since the plan (${recent})`;
  return `tag ${tag} was moved onto it from ${short(before.digest)} while retention ran (${recent})`;
}

/**
 * Whether a check is too old to delete on: the window a concurrent write can slip through is
 * the time from the check's first request to the DELETE, so a check the registry answered slowly
 * (retries, load) is repeated rather than trusted.
 */
export function checkIsStale(startedAt: number, now: number, maxAgeMs: number): boolean {
  return now - startedAt > maxAgeMs;
}

/** Tags this run knew on a digest that still exists but are no longer listed: moved onto a deleted digest, or deleted by someone. */
export function vanishedTags(input: {
  known: ReadonlyMap<string, string>;
  listed: ReadonlySet<string>;
  /** Digests deleted in this run so far (their tags went with them, as planned). */
  deleted: ReadonlySet<string>;
}): Array<{ tag: string; lastSeenOn: string }> {
  const lost: Array<{ tag: string; lastSeenOn: string }> = [];
  for (const [tag, digest] of input.known)
    if (!input.listed.has(tag) && !input.deleted.has(digest)) lost.push({ tag, lastSeenOn: digest });
  return lost;
}

function short(digest: string): string {
  return digest.slice(0, 19);
}
