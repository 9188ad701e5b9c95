// planTarget with plain values: a target whose tags are all in place but which lacks the release's
// record (a promotion cut short between its flip and the record) still has a change to make; a
// manifest the target answers an error for is copied again, said why.
import { describe, expect, it } from 'vitest';
import type { PromoteTarget } from '../../../src/config/model.js';
import { type PromotePlan, promoteHasChanges, promoteHasProblems } from '../../../src/promote/model.js';
import { planSourceBudget, planTarget, recordAtTarget } from '../../../src/promote/plan.js';
import { renderPromoteText } from '../../../src/promote/views.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const target: PromoteTarget = {
  name: 'site',
  registry: { url: '127.0.0.1:5001', namespace: 'site', insecure: true },
  tags: [],
  immutableTags: [],
  requireSignature: false,
  retention: [],
  index: 0,
  loc: { file: 'images.yaml', line: 1, col: 1 },
};
const image = {
  name: 'keystone',
  repository: 'arbor-demo/keystone',
  digest: DIGEST,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  size: 500,
  fingerprint: 'x',
  fingerprintTag: 'fp-x',
  tags: ['2025.1'],
};
const observed = new Map([['keystone', { tags: { '2025.1': DIGEST } }]]);
const asPlan = (t: ReturnType<typeof planTarget>) => ({ targets: [t] }) as unknown as PromotePlan;

describe('planTarget: the release record at the target', () => {
  it('every tag in place and the record there: nothing to do', () => {
    const t = planTarget({ target, images: [image], observed, recordPresent: true });
    expect(t.images[0]!.action).toBe('none');
    expect(t.recordMissing).toBeUndefined();
    expect(promoteHasChanges(asPlan(t))).toBe(false);
  });

  it('every tag in place but no record: a change (apply writes the record)', () => {
    const t = planTarget({ target, images: [image], observed, recordPresent: false });
    expect(t.images[0]!.action).toBe('none');
    expect(t.recordMissing).toBe(true);
    expect(promoteHasChanges(asPlan(t))).toBe(true);
  });
});

describe('planTarget: the source lost part of the release', () => {
  it("names the index's child that is gone, not the index that is still there", () => {
    const child = `sha256:${'d'.repeat(64)}`;
    const t = planTarget({
      target,
      images: [image],
      observed: new Map([
        ['keystone', { tags: {}, manifestPresent: false, missingAtSource: true, missingChild: child }],
      ]),
    });
    expect(t.problems).toEqual([
      `image keystone: ${child.slice(0, 19)}, a child of its index ${DIGEST.slice(0, 19)}, is not at the source any more`,
    ]);
  });
});

describe('planTarget: another record under the release name at the target', () => {
  it('is a change, and the plan says it is written over', () => {
    const t = planTarget({ target, images: [image], observed, recordPresent: false, recordOther: true });
    expect(t).toMatchObject({ recordMissing: true, recordOther: true });
    expect(promoteHasChanges(asPlan(t))).toBe(true);
    const release = {
      name: '2025.1-p5',
      registry: '127.0.0.1:5000',
      repository: 'a/arbor-releases',
      digest: DIGEST,
    };
    expect(renderPromoteText({ ...asPlan(t), release })).toContain(
      "+ record: site holds another record under this release's name: written over",
    );
  });
});

describe("planTarget: a target whose tags: select none of the release's tags", () => {
  it('publishes nothing, and no record says it did (nor does the plan ask for one)', () => {
    const patchesOnly = { ...target, tags: ['^\\d+\\.\\d+-p\\d+$'] };
    const t = planTarget({ target: patchesOnly, images: [image], observed, recordPresent: false });
    expect(t.images[0]!.action).toBe('none');
    expect(t.publishesNothing).toBe(true);
    expect(t.recordMissing).toBeUndefined();
    expect(promoteHasChanges(asPlan(t))).toBe(false);
    const release = {
      name: '2025.1-dev',
      registry: '127.0.0.1:5000',
      repository: 'a/arbor-releases',
      digest: DIGEST,
    };
    expect(renderPromoteText({ ...asPlan(t), release })).toContain(
      "nothing is published at site: its tags: select none of this release's tags",
    );
    // One tag selected is enough for the record.
    const some = planTarget({
      target: { ...target, tags: ['^2025'] },
      images: [image],
      observed,
      recordPresent: false,
    });
    expect(some.publishesNothing).toBeUndefined();
    expect(some.recordMissing).toBe(true);
  });
});

describe('planTarget: a manifest the target cannot read', () => {
  const moved = { '2025.1': `sha256:${'b'.repeat(64)}` };
  const blob = { digest: `sha256:${'c'.repeat(64)}`, size: 7 };

  it('is copied again like a missing one, and the plan says why', () => {
    const t = planTarget({
      target,
      images: [image],
      observed: new Map([
        ['keystone', { tags: moved, manifestPresent: false, manifestUnreadable: true, missing: [blob] }],
      ]),
      recordPresent: true,
    });
    expect(t.images[0]).toMatchObject({ action: 'copy', tagsToWrite: ['2025.1'], blobsMissing: 1 });
    expect(t.images[0]!.reasons[0]).toBe(
      'unreadable at site (it answered an error for the manifest): written again, 1 blob(s), 7 bytes missing in its repository',
    );
  });

  it('a missing one keeps its own reason', () => {
    const t = planTarget({
      target,
      images: [image],
      observed: new Map([['keystone', { tags: moved, manifestPresent: false, missing: [blob] }]]),
      recordPresent: true,
    });
    expect(t.images[0]!.reasons[0]).toBe('not at site: 1 blob(s), 7 bytes missing in its repository');
  });
});

describe('planTarget: a tag the target cannot read (a link a crash left empty)', () => {
  const unreadable = new Map([
    ['keystone', { tags: { '2025.1': null }, manifestPresent: true, unreadableTags: ['2025.1'] }],
  ]);

  it('is written again, said why, and listed as unreadable (its digest before is unknown)', () => {
    const t = planTarget({ target, images: [image], observed: unreadable, recordPresent: true });
    expect(t.problems).toEqual([]);
    expect(t.images[0]).toMatchObject({ action: 'tag', tagsToWrite: ['2025.1'] });
    expect(t.images[0]!.reasons).toEqual([
      'tag 2025.1 is unreadable here (the registry answered 500 for it): written again',
    ]);
    expect(t.unreadable).toEqual(['site/keystone:2025.1']);
    expect(t.observed).toEqual({ 'site/keystone:2025.1': null });
  });

  it('an immutable one is refused: whether writing it would move it cannot be told', () => {
    const immutable = { ...target, immutableTags: ['^2025\\.1$'] };
    const t = planTarget({ target: immutable, images: [image], observed: unreadable, recordPresent: true });
    expect(t.problems).toEqual([
      'image keystone: tag 2025.1 is immutable at site and unreadable there (the registry answered 500 for it, as for a link a crash left empty): whether writing it would move it cannot be told; repair or remove the tag at the registry, then run again',
    ]);
  });

  it('an immutable one an unfinished run of this release was writing to this digest is written again', () => {
    const immutable = { ...target, immutableTags: ['^2025\\.1$'] };
    const resuming = new Map([['site/keystone:2025.1', DIGEST]]);
    const t = planTarget({ target: immutable, images: [image], observed: unreadable, resuming });
    expect(t.problems).toEqual([]);
    expect(t.images[0]!.tagsToWrite).toEqual(['2025.1']);
    // Another digest in that run's entry is not this write: refused.
    const other = new Map([['site/keystone:2025.1', `sha256:${'e'.repeat(64)}`]]);
    expect(
      planTarget({ target: immutable, images: [image], observed: unreadable, resuming: other }).problems,
    ).toHaveLength(1);
  });
});

describe('renderPromoteText: a failed gate', () => {
  it('says why once, among the problems, and that the gate failed', () => {
    const t = planTarget({
      target,
      images: [image],
      observed,
      recordPresent: true,
      gate: { passed: false, detail: 'command exited with 3: not gated yet' },
    });
    const text = renderPromoteText({
      ...asPlan(t),
      release: { name: '2025.1-p5', registry: '127.0.0.1:5000', repository: 'arbor-demo/arbor-releases' },
    } as PromotePlan);
    expect(text).toContain('  ! gate: command exited with 3: not gated yet\n  gate: failed\n');
    expect(text.split('not gated yet')).toHaveLength(2);
  });
});

describe("planSourceBudget: the source's pull budget", () => {
  const release = { name: '2025.1-p5', registry: '127.0.0.1:5000', repository: 'arbor-demo/arbor-releases' };
  const withSource = (source: ReturnType<typeof planSourceBudget>) =>
    ({
      ...asPlan(planTarget({ target, images: [image], observed, recordPresent: true })),
      release,
      source,
    }) as PromotePlan;

  it('enough left: shown, no problem', () => {
    const source = planSourceBudget('hub.example', { remaining: 9, limit: 100, windowSeconds: 21600 }, 9);
    expect(source).toEqual({
      registry: 'hub.example',
      budget: { remaining: 9, limit: 100, windowSeconds: 21600, needed: 9 },
      problems: [],
    });
    expect(promoteHasProblems(withSource(source))).toBe(false);
    expect(renderPromoteText(withSource(source))).toContain(
      '  source pull budget: 9 of 100 remaining; this promotion reads 9 more manifest(s)\n',
    );
  });

  it('more reads than remain: a problem of the plan, which stops it before anything moves', () => {
    const source = planSourceBudget('hub.example', { remaining: 1 }, 3);
    expect(source.problems).toEqual([
      'pull budget: the promotion needs 3 manifest read(s) at the source hub.example, 1 remain',
    ]);
    expect(promoteHasProblems(withSource(source))).toBe(true);
    expect(renderPromoteText(withSource(source))).toContain(
      '  ! pull budget: the promotion needs 3 manifest read(s) at the source hub.example, 1 remain\n  source pull budget: 1 remaining; this promotion reads 3 more manifest(s)\n',
    );
  });
});

describe('recordAtTarget: the release as a target holds it', () => {
  const record = {
    formatVersion: 1 as const,
    release: '2025.1-p5',
    created: '2026-12-01T00:00:00.000Z',
    registry: '127.0.0.1:5000',
    namespace: 'arbor-demo',
    configDigest: 'sha256:c',
    images: [
      { ...image, tags: ['2025.1', '2025.1-p5', 'latest'] },
      { ...image, name: 'cron', repository: 'arbor-demo/cron', tags: ['latest'] },
    ],
  };

  it("the target's registry, namespace, repositories and published tags; an image with none left out", () => {
    const published: PromoteTarget = { ...target, tags: ['^\\d+\\.\\d+'] };
    const at = recordAtTarget(record, published);
    expect(at).toMatchObject({ registry: '127.0.0.1:5001', namespace: 'site', release: '2025.1-p5' });
    expect(at.created).toBe(record.created);
    expect(at.images.map((i) => [i.name, i.repository, i.digest, i.tags])).toEqual([
      ['keystone', 'site/keystone', DIGEST, ['2025.1', '2025.1-p5']],
    ]);
  });

  it('every tag without `tags:`; no namespace: the image name alone', () => {
    const bare = { ...target, registry: { url: 'quay.example', namespace: '', insecure: false } };
    const at = recordAtTarget(record, bare);
    expect(at.images.map((i) => [i.repository, i.tags])).toEqual([
      ['keystone', ['2025.1', '2025.1-p5', 'latest']],
      ['cron', ['latest']],
    ]);
  });
});
