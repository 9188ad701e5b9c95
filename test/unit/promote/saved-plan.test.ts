import { describe, expect, it } from 'vitest';
import type { PromoteImage, PromotePlan, TargetPlan } from '../../../src/promote/model.js';
import { parseSavedPromotePlan, staleDifferences } from '../../../src/promote/saved-plan.js';

// Digests that differ in their first characters, as the messages show only those.
const d = (n: number) => `sha256:${String(n).repeat(64)}`;
const image = (name: string, digest: string, tagsToWrite: string[]): PromoteImage => ({
  name,
  sourceRepository: `ci/${name}`,
  targetRepository: `site/${name}`,
  digest,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  size: 500,
  action: tagsToWrite.length > 0 ? 'tag' : 'none',
  reasons: [],
  tags: ['2025.1', '2025.1-p6'],
  tagsToWrite,
  blobsMissing: 0,
  bytesMissing: 0,
});
const target = (
  name: string,
  images: PromoteImage[],
  observed: Record<string, string | null>,
): TargetPlan => ({
  target: name,
  registry: 'site.example',
  namespace: 'site',
  images,
  problems: [],
  observed,
  summary: { copy: 0, tag: 1, none: 0, blobs: 0, bytes: 0 },
});
const plan = (targets: TargetPlan[]): PromotePlan => ({
  formatVersion: 1,
  kind: 'promote',
  createdAt: 't0',
  configFile: 'images.yaml',
  configDigest: d(9),
  release: { name: '2025.1-p6', registry: 'ci.example', repository: 'ci/arbor-releases', digest: d(8) },
  targets,
});
const saved = plan([
  target('site', [image('keystone', d(1), ['2025.1-p6']), image('nova', d(2), [])], {
    'site/keystone:2025.1-p6': null,
    'site/nova:2025.1-p6': d(2),
  }),
]);

describe('a saved promotion plan read back', () => {
  it('is taken when it has the shape arbor writes', () => {
    expect(parseSavedPromotePlan(JSON.stringify(saved), 'p.json')).toEqual(saved);
  });

  it.each([
    ['not JSON', '{', /p\.json: not a promotion plan \(/],
    ['another kind', JSON.stringify({ ...saved, kind: 'apply' }), /kind is not "promote"/],
    ['no target (never "every target")', JSON.stringify({ ...saved, targets: [] }), /it names no target/],
    ['no release', JSON.stringify({ ...saved, release: undefined }), /no release name and digest/],
    [
      'a target without images',
      JSON.stringify({ ...saved, targets: [{ target: 'site' }] }),
      /targets\[0\]: no images/,
    ],
    [
      'an image without its digest',
      JSON.stringify({ ...saved, targets: [{ ...saved.targets[0], images: [{ name: 'keystone' }] }] }),
      /images\[0\] lacks its name, digest, action or tags/,
    ],
    [
      'a target twice',
      JSON.stringify({ ...saved, targets: [saved.targets[0], saved.targets[0]] }),
      /target site appears twice/,
    ],
  ])('is refused with one line when it is %s', (_, text, message) => {
    expect(() => parseSavedPromotePlan(text, 'p.json')).toThrow(message);
  });
});

describe('staleDifferences', () => {
  it('none when planning again gives the same plan', () => {
    expect(staleDifferences(saved, structuredClone(saved))).toEqual([]);
  });

  it('names the tag that moved at the target, and what the plan now writes', () => {
    const fresh = plan([
      target('site', [image('keystone', d(1), ['2025.1-p6']), image('nova', d(2), ['2025.1-p6'])], {
        'site/keystone:2025.1-p6': null,
        'site/nova:2025.1-p6': d(7),
      }),
    ]);
    expect(staleDifferences(saved, fresh)).toEqual([
      'target site: image nova: its action is now tag (was none)',
      `target site: site/nova:2025.1-p6 now names ${d(7).slice(0, 19)} (was names ${d(2).slice(0, 19)})`,
    ]);
  });

  it('names another record under the release, images changed, and targets planned or not', () => {
    const fresh = {
      ...plan([
        target('site', [image('keystone', d(3), ['2025.1-p6'])], { 'site/keystone:2025.1-p6': null }),
        target('hub', [], {}),
      ]),
      release: { ...saved.release, digest: d(4) },
    };
    expect(staleDifferences(saved, fresh)).toEqual([
      `release 2025.1-p6 now names another record (${d(4).slice(0, 19)}, was ${d(8).slice(0, 19)})`,
      `target site: image keystone is now ${d(3).slice(0, 19)} (was ${d(1).slice(0, 19)})`,
      'target site: image nova is not in the plan any more',
      `target site: site/nova:2025.1-p6 now not read (was names ${d(2).slice(0, 19)})`,
      'target hub is planned now but not in the saved plan',
    ]);
  });
});
