// planDifferences: a saved plan against the plan recomputed from its config, field by field,
// images and deletions matched by identity. Plain values.
import { describe, expect, it } from 'vitest';
import type { Plan } from '../../../src/plan/model.js';
import { describeDifference, planDifferences } from '../../../src/plan/saved-diff.js';
import { deletion, makePlan, SMALL_TREE } from '../../fixtures/plans/plans.js';

const expected = makePlan(SMALL_TREE, [
  deletion('keystone', 'old-1', 100),
  deletion('keystone', 'old-2', 50),
]);

function differences(edit: (plan: Plan) => void): string[] {
  const saved = structuredClone(expected);
  edit(saved);
  return planDifferences(JSON.parse(JSON.stringify(saved)), expected).map((d) =>
    describeDifference(d, 'plan.json', d.where.startsWith('deletion') ? 'retention' : 'images.yaml'),
  );
}

describe('planDifferences', () => {
  it('finds nothing in the plan itself, whatever the key order', () => {
    const reordered = JSON.parse(JSON.stringify(expected, Object.keys(expected).reverse()));
    expect(planDifferences(expected, expected)).toEqual([]);
    expect(planDifferences({ ...reordered, ...expected }, expected)).toEqual([]);
  });

  it('names every edited field of an image, at any depth', () => {
    expect(
      differences((p) => {
        const keystone = p.images.find((i) => i.name === 'keystone')!;
        keystone.tagsToAdd = ['evil-tag'];
        keystone.build!.labels.extra = 'x';
        keystone.build!.platforms = ['linux/arm64'];
        p.images[0]!.digest = `sha256:${'e'.repeat(64)}`;
      }),
    ).toEqual([
      `image base: digest: "sha256:${'e'.repeat(64)}" in plan.json; images.yaml gives "${expected.images[0]!.digest}"`,
      expect.stringMatching(
        /^image keystone: tagsToAdd: \["evil-tag"\] in plan\.json; images\.yaml gives \["fp-/,
      ),
      'image keystone: build.labels.extra: "x" in plan.json; images.yaml has no such entry',
      'image keystone: build.platforms: ["linux/arm64"] in plan.json; images.yaml gives ["linux/amd64"]',
    ]);
  });

  it('names images added, removed or reordered', () => {
    expect(
      differences((p) => {
        p.images.push({ ...p.images[0]!, name: 'intruder' });
        p.images = p.images.filter((i) => i.name !== 'keystone');
        [p.images[0], p.images[1]] = [p.images[1]!, p.images[0]!];
      }),
    ).toEqual([
      'image keystone: images.yaml gives it, plan.json does not',
      'image intruder: in plan.json, but images.yaml gives no such entry',
      expect.stringMatching(/^order of images: \["openstack-base","base",/),
    ]);
  });

  it('names deletions added, removed or changed, by repository, tag and digest', () => {
    const [first, second] = expected.deletions;
    expect(
      differences((p) => {
        p.deletions[0]!.tags = ['old-1', 'stable'];
        p.deletions[1]!.digest = `sha256:${'d'.repeat(64)}`;
      }),
    ).toEqual([
      `deletion ${first!.repository}@${first!.digest}: tags: ["old-1","stable"] in plan.json; retention gives ["old-1"]`,
      `deletion ${second!.repository}@${second!.digest}: retention gives it, plan.json does not`,
      `deletion ${second!.repository}@sha256:${'d'.repeat(64)}: in plan.json, but retention gives no such entry`,
    ]);
  });

  it('compares the summary, the recorded registry state and fields arbor never writes', () => {
    expect(
      differences((p) => {
        p.summary.delete = 0;
        p.observed['127.0.0.1:5000/openstack/x:1'] = null;
        (p as unknown as Record<string, unknown>).hooks = 'rm -rf /';
        (p.images[1] as unknown as Record<string, unknown>).run = ['sh'];
      }),
    ).toEqual([
      'image openstack-base: run: ["sh"] in plan.json; images.yaml has no such entry',
      'summary.delete: 0 in plan.json; images.yaml gives 2',
      'observed["127.0.0.1:5000/openstack/x:1"]: null in plan.json; images.yaml has no such entry',
      'hooks: "rm -rf /" in plan.json; images.yaml has no such entry',
    ]);
  });

  it('survives a plan that is not shaped like one, and shortens long values', () => {
    const found = planDifferences({ images: 'x'.repeat(1000), deletions: [null, 5] }, expected);
    expect(found.map((d) => d.where)).toEqual(
      expect.arrayContaining(['images', 'deletions[0]', 'deletions[1]']),
    );
    expect(found.every((d) => (d.saved?.length ?? 0) < 140)).toBe(true);
  });
});
