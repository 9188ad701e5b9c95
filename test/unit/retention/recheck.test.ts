// The re-check before a DELETE on plain values: which tags are asked about again, and what the
// answers mean (delete, or keep with the reason).
import { describe, expect, it } from 'vitest';
import {
  checkIsStale,
  judge,
  type PlannedTarget,
  type RecheckView,
  tagsToCheck,
  vanishedTags,
} from '../../../src/retention/recheck.js';

const D = `sha256:${'d'.repeat(64)}`;
const K = `sha256:${'k'.repeat(64)}`;
const L = `sha256:${'1'.repeat(64)}`;
const X = `sha256:${'e'.repeat(64)}`;

const digest = (tags: string[]): PlannedTarget => ({ digest: D, tag: null, tags });
const view = (v: Partial<RecheckView>): RecheckView => ({ pointing: [], elsewhere: [], gone: [], ...v });

describe('judge', () => {
  it('deletes when exactly the planned tags still point at the digest', () => {
    expect(
      judge(
        digest(['b1', 'b1-old']),
        view({
          pointing: [
            { tag: 'b1', before: { digest: D } },
            { tag: 'b1-old', before: { digest: D } },
          ],
        }),
      ),
    ).toEqual({ action: 'delete' });
  });

  it('deletes when a planned tag is gone (nothing of it to protect), and an untagged digest nobody tagged', () => {
    expect(
      judge(digest(['b1', 'b2']), view({ pointing: [{ tag: 'b1', before: { digest: D } }], gone: ['b2'] })),
    ).toEqual({ action: 'delete' });
    expect(judge(digest([]), view({}))).toEqual({ action: 'delete' });
  });

  it('keeps a digest that a new tag reached: written since the plan counts as recent', () => {
    expect(
      judge(
        digest(['b1']),
        view({
          pointing: [
            { tag: 'b1', before: { digest: D } },
            { tag: 'hotfix', before: 'new' },
          ],
        }),
      ),
    ).toEqual({
      action: 'keep',
      reason:
        'tag hotfix appeared on it while retention ran (written since the plan, so within the grace period)',
    });
  });

  it('keeps a digest that an existing tag was moved onto (rollback, promotion), naming where from', () => {
    const verdict = judge(digest(['b1']), view({ pointing: [{ tag: 'prod', before: { digest: K } }] }));
    expect(verdict).toEqual({
      action: 'keep',
      reason: `tag prod was moved onto it from ${K.slice(0, 19)} while retention ran (written since the plan, so within the grace period)`,
    });
  });

  it('keeps a digest that a tag reached between the plan and the start of deletion', () => {
    expect(judge(digest([]), view({ pointing: [{ tag: 'late', before: { digest: D } }] }))).toEqual({
      action: 'keep',
      reason: 'tag late points at it since the plan (written since the plan, so within the grace period)',
    });
  });

  it('names every tag that arrived', () => {
    const verdict = judge(
      digest([]),
      view({
        pointing: [
          { tag: 'a', before: 'new' },
          { tag: 'b', before: { digest: K } },
        ],
      }),
    );
    expect(verdict.action).toBe('keep');
    expect(verdict.action === 'keep' && verdict.reason.split('; ')).toHaveLength(2);
  });

  it('keeps a digest whose planned tag now points elsewhere (the plan is out of date for it)', () => {
    expect(judge(digest(['r2']), view({ elsewhere: [{ tag: 'r2', digest: X }] }))).toEqual({
      action: 'keep',
      reason: `tag r2 now points at ${X.slice(0, 19)}, not ${D.slice(0, 19)}`,
    });
  });

  it('a tag-only deletion needs its tag and every other planned tag still in place', () => {
    const target: PlannedTarget = { digest: D, tag: 'ci-1', tags: ['ci-1', 'v1'] };
    const both = [
      { tag: 'ci-1', before: { digest: D } },
      { tag: 'v1', before: { digest: D } },
    ];
    expect(judge(target, view({ pointing: both }))).toEqual({ action: 'delete' });
    expect(judge(target, view({ pointing: [both[1]!], gone: ['ci-1'] }))).toEqual({
      action: 'keep',
      reason: 'tag ci-1 disappeared since the plan',
    });
    expect(judge(target, view({ pointing: [both[0]!], gone: ['v1'] }))).toEqual({
      action: 'keep',
      reason: `tag v1 disappeared since the plan; removing ci-1 could leave ${D.slice(0, 19)} without a tag`,
    });
    expect(judge(target, view({ pointing: [both[0]!], elsewhere: [{ tag: 'v1', digest: X }] })).action).toBe(
      'keep',
    );
  });
});

describe('tagsToCheck', () => {
  const known = new Map([
    ['b1', D], // this batch
    ['b2', L], // a later batch
    ['stable', K], // a digest that stays
  ]);

  it('asks about new tags, the batch’s tags and the tags of digests that stay; not those of later batches', () => {
    expect(
      tagsToCheck({
        listed: ['b1', 'b2', 'new-tag', 'stable'],
        known,
        batch: new Set([D]),
        later: new Set([L]),
      }),
    ).toEqual(['b1', 'new-tag', 'stable']);
  });

  it('asks about every tag when nothing is known yet, and never about tags no longer listed', () => {
    expect(
      tagsToCheck({ listed: ['x', 'y'], known: new Map(), batch: new Set([D]), later: new Set() }),
    ).toEqual(['x', 'y']);
    expect(tagsToCheck({ listed: [], known, batch: new Set([D]), later: new Set([L]) })).toEqual([]);
  });

  it('a digest saved earlier in the run is no longer "later": its tags are asked about', () => {
    expect(tagsToCheck({ listed: ['b2'], known, batch: new Set([D]), later: new Set() })).toEqual(['b2']);
  });
});

describe('vanishedTags and checkIsStale', () => {
  it('reports a known tag no longer listed unless its digest was deleted here', () => {
    expect(
      vanishedTags({
        known: new Map([
          ['gone-with-digest', D],
          ['moved-away-and-lost', K],
          ['still-here', K],
        ]),
        listed: new Set(['still-here']),
        deleted: new Set([D]),
      }),
    ).toEqual([{ tag: 'moved-away-and-lost', lastSeenOn: K }]);
  });

  it('a check older than the limit is stale', () => {
    expect(checkIsStale(1000, 1500, 2000)).toBe(false);
    expect(checkIsStale(1000, 3001, 2000)).toBe(true);
  });
});
