// The retention decision on plain values: keep wins, protection, multi-arch, refusals, bytes.
import { describe, expect, it } from 'vitest';
import { evaluateRetention } from '../../../src/retention/evaluate.js';
import type { RepositoryHistory } from '../../../src/retention/model.js';
import { artifact, DAY, NOW, rule } from './rules.js';

function evaluate(
  history: Omit<RepositoryHistory, 'repository' | 'rules'> & { rules?: number[] },
  rules = [rule(0, { keepLast: 2 })],
  protectedTags: string[] = [],
) {
  return evaluateRetention({
    rules,
    repositories: [
      {
        repository: 'ns/app',
        rules: history.rules ?? rules.map((r) => r.index),
        artifacts: history.artifacts,
        ...(history.unreadableTags ? { unreadableTags: history.unreadableTags } : {}),
      },
    ],
    protectedTags: new Map([['ns/app', new Set(protectedTags)]]),
    now: NOW,
  });
}

const deletedDigests = (o: ReturnType<typeof evaluate>) =>
  o.deletions.filter((d) => d.tag === null).map((d) => d.digest);

describe('evaluateRetention', () => {
  it('keep_last keeps the newest N by creation time and deletes the rest, citing the rule', () => {
    const versions = [5, 4, 3, 2, 1].map((days) => artifact([`v${days}`], days));
    const outcome = evaluate({ artifacts: versions });
    expect(deletedDigests(outcome)).toEqual([versions[0]!.digest, versions[1]!.digest, versions[2]!.digest]);
    expect(outcome.deletions[0]).toMatchObject({ repository: 'ns/app', tag: null, tags: ['v5'], rule: 0 });
    expect(outcome.deletions[0]!.reason).toBe('rule 0: not among the newest 2 by created');
    expect(outcome.kept.map((k) => k.tags)).toEqual([['v2'], ['v1']]);
    expect(outcome.kept[1]!.reasons).toEqual(['rule 0 keep_last 2: newest #1 by created']);
    expect(outcome.diagnostics).toEqual([]);
  });

  it('keep wins across rules: a digest kept by any applicable rule stays', () => {
    const old = artifact(['stable-1'], 90);
    const older = artifact(['x'], 100);
    const recent = artifact(['y'], 1);
    const outcome = evaluate({ artifacts: [older, old, recent] }, [
      rule(0, { keepLast: 1 }),
      rule(1, { keepTags: ['^stable-'] }),
    ]);
    expect(deletedDigests(outcome)).toEqual([older.digest]);
    expect(outcome.kept.find((k) => k.digest === old.digest)!.reasons).toEqual([
      'rule 1 keep_tags: stable-1 matches "^stable-"',
    ]);
  });

  it('deletes nothing in a repository with a tag the registry cannot read (what it names is unknown)', () => {
    const versions = [5, 4, 3, 2, 1].map((days) => artifact([`v${days}`], days));
    expect(deletedDigests(evaluate({ artifacts: versions }))).toHaveLength(3);
    const outcome = evaluate({ artifacts: versions, unreadableTags: ['v9'] });
    expect(outcome.deletions).toEqual([]);
    expect(outcome.diagnostics.map((d) => [d.severity, d.message])).toEqual([
      [
        'warning',
        'ns/app: nothing deleted there this run; the registry answered 500 for tag(s) v9 (as for a link a crash left empty), so what they name is unknown',
      ],
    ]);
  });

  it('a digest shared by a kept tag and an expired tag survives with both tags', () => {
    const shared = artifact(['old-build', 'stable-2'], 60);
    const newer = artifact(['new'], 1);
    const outcome = evaluate({ artifacts: [shared, newer] }, [
      rule(0, { keepLast: 1, keepTags: ['stable-'] }),
    ]);
    expect(outcome.deletions).toEqual([]);
    expect(outcome.kept.map((k) => k.digest).sort()).toEqual([shared.digest, newer.digest].sort());
  });

  it('protects the tags images.yaml wants and digests within the grace period', () => {
    const wanted = artifact(['fp-abc', '2025.1'], 400);
    const fresh = artifact(['ci-1'], 0.01);
    const old = artifact(['ci-0'], 300);
    const newest = artifact(['ci-2'], 0.5);
    const outcome = evaluate(
      { artifacts: [wanted, fresh, old, newest] },
      [rule(0, { keepLast: 0 })],
      ['fp-abc'],
    );
    expect(deletedDigests(outcome).sort()).toEqual([old.digest, newest.digest].sort());
    expect(outcome.kept.find((k) => k.digest === wanted.digest)!.reasons).toEqual([
      'tag fp-abc is wanted by images.yaml',
    ]);
    expect(outcome.kept.find((k) => k.digest === fresh.digest)!.reasons).toEqual([
      'created within the grace period (1h)',
    ]);
  });

  it('keeps a multi-arch index with its untagged children, and deletes children only with delete_untagged', () => {
    const amd = artifact([], 50);
    const arm = artifact([], 50);
    const index = artifact(['multi-1'], 50, {
      children: [amd.digest, arm.digest],
      blobs: [{ digest: 'sha256:idx', size: 300 }],
    });
    const oldAmd = artifact([], 80);
    const oldIndex = artifact(['multi-0'], 80, {
      children: [oldAmd.digest],
      blobs: [{ digest: 'sha256:idx0', size: 300 }],
    });
    const kept = evaluate({ artifacts: [oldIndex, oldAmd, index, amd, arm] }, [rule(0, { keepLast: 1 })]);
    expect(deletedDigests(kept)).toEqual([oldIndex.digest]);
    expect(kept.kept.find((k) => k.digest === amd.digest)!.reasons).toContain(
      `child of kept index ${index.digest.slice(0, 19)}`,
    );
    expect(kept.kept.find((k) => k.digest === oldAmd.digest)!.reasons).toEqual([
      'untagged, and no rule for this repository sets delete_untagged',
    ]);
    const pruned = evaluate({ artifacts: [oldIndex, oldAmd, index, amd, arm] }, [
      rule(0, { keepLast: 1, deleteUntagged: true }),
    ]);
    expect(deletedDigests(pruned).sort()).toEqual([oldIndex.digest, oldAmd.digest].sort());
    expect(pruned.deletions.find((d) => d.digest === oldAmd.digest)!.reason).toBe(
      `untagged child of deleted index ${oldIndex.digest.slice(0, 19)} (delete_untagged)`,
    );
    // Blobs of the old child are freed only when the child goes too.
    expect(kept.deletions[0]!.bytesFreed).toBe(300);
    expect(pruned.deletions.reduce((n, d) => n + d.bytesFreed, 0)).toBe(300 + 1500);
  });

  it('orders by semver and by a tag-pattern capture when creation times lie', () => {
    const same = 1000; // every image claims the same (reproducible-build) time
    const tags = ['1.2.0', '1.10.0', '1.9.3', 'v2.0.0-rc.1', 'v2.0.0', 'latest'];
    const artifacts = tags.map((t) => artifact([t], same));
    const semver = evaluate({ artifacts }, [rule(0, { keepLast: 2, order: 'semver', allowEmpty: true })]);
    expect(semver.kept.map((k) => k.tags[0]).sort()).toEqual(['v2.0.0', 'v2.0.0-rc.1']);
    const patches = ['2025.1-p9', '2025.1-p10', '2025.1-p2'].map((t) => artifact([t], same));
    const byPattern = evaluate({ artifacts: patches }, [
      rule(0, { keepLast: 1, order: 'tag-pattern', tagPattern: '^2025\\.1-p(\\d+)$' }),
    ]);
    expect(byPattern.kept.map((k) => k.tags)).toEqual([['2025.1-p10']]);
  });

  it('keep_newer_than keeps recent and creation-unknown digests', () => {
    const recent = artifact(['a'], 10);
    const old = artifact(['b'], 40);
    const unknown = artifact(['c'], 0, { created: undefined });
    delete (unknown as { created?: number }).created;
    const outcome = evaluate({ artifacts: [recent, old, unknown] }, [rule(0, { keepNewerThan: '30d' })]);
    expect(deletedDigests(outcome)).toEqual([old.digest]);
    expect(outcome.kept.find((k) => k.digest === unknown.digest)!.reasons).toEqual([
      'rule 0 keep_newer_than: creation time unknown',
    ]);
  });

  it('refuses a rule that would delete every tag of a repository, at the rule location, unless allow_empty', () => {
    const artifacts = [artifact(['a'], 10), artifact(['b'], 20)];
    const refused = evaluate({ artifacts }, [rule(0, { keepTags: ['^release-'] })]);
    expect(refused.diagnostics).toEqual([
      {
        severity: 'error',
        message:
          'retention rule 0 would delete every tag of ns/app (2 tags): refused; set allow_empty: true if that is intended',
        loc: { file: 'images.yaml', line: 20, col: 5 },
      },
    ]);
    const allowed = evaluate({ artifacts }, [rule(0, { keepTags: ['^release-'], allowEmpty: true })]);
    expect(allowed.diagnostics).toEqual([]);
    expect(deletedDigests(allowed)).toHaveLength(2);
  });

  it('warns about a rule that selects no repository', () => {
    const outcome = evaluateRetention({
      rules: [rule(0, { keepLast: 1 }), rule(1, { keepLast: 1 })],
      repositories: [{ repository: 'ns/app', rules: [0], artifacts: [artifact(['a'], 1)] }],
      protectedTags: new Map(),
      now: NOW,
    });
    expect(outcome.diagnostics).toEqual([
      {
        severity: 'warning',
        message: 'retention rule 1 selects no repository: it deletes nothing',
        loc: { file: 'images.yaml', line: 25, col: 5 },
      },
    ]);
  });

  it('does not warn about a rule whose repository holds nothing yet (a tree before its first apply)', () => {
    const outcome = evaluateRetention({
      rules: [rule(0, { keepLast: 1 })],
      repositories: [{ repository: 'ns/app', rules: [0], artifacts: [] }],
      protectedTags: new Map(),
      now: NOW,
    });
    expect(outcome.diagnostics).toEqual([]);
    expect(outcome.deletions).toEqual([]);
  });

  it('expire_tags deletes a tag alone when another tag keeps its digest, never the last tag', () => {
    const release = artifact(['2025.1', 'pr-12'], 1);
    const lonely = artifact(['pr-13'], 2);
    const outcome = evaluate({ artifacts: [release, lonely] }, [
      rule(0, { keepNewerThan: '30d', keepTags: ['^2025'], expireTags: ['^pr-'] }),
    ]);
    expect(outcome.deletions).toEqual([
      {
        repository: 'ns/app',
        tag: 'pr-12',
        tags: ['2025.1', 'pr-12'],
        digest: release.digest,
        rule: 0,
        bytesFreed: 0,
        reason: 'expire_tags: pr-12 matches "^pr-"; the digest stays for 2025.1',
      },
    ]);
  });

  it('bytes freed count blobs no remaining manifest references, once', () => {
    const shared = { digest: 'sha256:shared-layer', size: 7000 };
    const a = artifact(['a'], 30, { blobs: [{ digest: 'sha256:ma', size: 100 }, shared] });
    const b = artifact(['b'], 20, { blobs: [{ digest: 'sha256:mb', size: 100 }, shared] });
    const c = artifact(['c'], 10, { blobs: [{ digest: 'sha256:mc', size: 100 }, shared] });
    const allButNewest = evaluate({ artifacts: [a, b, c] }, [rule(0, { keepLast: 1 })]);
    expect(allButNewest.deletions.map((d) => d.bytesFreed)).toEqual([100, 100]);
    const none = evaluate({ artifacts: [a, b] }, [rule(0, { keepLast: 0, allowEmpty: true })]);
    expect(none.deletions.map((d) => d.bytesFreed)).toEqual([7100, 100]);
  });

  it('leaves repositories no rule selects alone', () => {
    const outcome = evaluate({ artifacts: [artifact(['a'], 500)], rules: [] }, [rule(0, { keepLast: 0 })]);
    expect(outcome.deletions).toEqual([]);
  });

  it('a tag written onto an old image recently (seen arriving by arbor) keeps it for the grace period', () => {
    const promoted = artifact(['b1', 'prod'], 90, { tagsSeenSince: { prod: NOW - 10 * 60_000 } });
    const promotedLongAgo = artifact(['b2', 'prod-old'], 80, {
      tagsSeenSince: { 'prod-old': NOW - 2 * 3_600_000 },
    });
    const outcome = evaluate({ artifacts: [promoted, promotedLongAgo, artifact(['x'], 1)] }, [
      rule(0, { keepLast: 1 }),
    ]);
    expect(outcome.kept.find((k) => k.digest === promoted.digest)!.reasons).toEqual([
      'tag prod was written onto it recently (first seen there by arbor at 2025-05-31T23:50:00.000Z, absent at its look before): kept for the grace period (1h)',
    ]);
    expect(deletedDigests(outcome)).toEqual([promotedLongAgo.digest]);
  });

  it('uses pushedAt over created for the grace period when the registry says it', () => {
    const lying = artifact(['repro'], 20_000, { pushedAt: NOW - 0.01 * DAY });
    const outcome = evaluate({ artifacts: [lying, artifact(['x'], 1)] }, [rule(0, { keepLast: 1 })]);
    expect(outcome.kept.find((k) => k.digest === lying.digest)!.reasons).toEqual([
      'pushed within the grace period (1h)',
    ]);
  });
});
