import { describe, expect, it } from 'vitest';
import type { Config } from '../../../src/config/model.js';
import { decodeInputsLabel, encodeInputsLabel } from '../../../src/fingerprint/inputs-label.js';
import type { FingerprintInput } from '../../../src/fingerprint/model.js';
import { computePlan } from '../../../src/plan/compute.js';
import type { DesiredImage, DesiredState } from '../../../src/plan/desired.js';
import type { Observation, ObservedImage } from '../../../src/plan/observe.js';
import { hasChanges, renderText, summaryLine } from '../../../src/plan/views/text.js';

const REPO = '127.0.0.1:5000/demo';

function desiredImage(
  name: string,
  parent: string | null,
  fp: string,
  inputs: FingerprintInput[] = [],
): DesiredImage {
  return {
    name,
    config: {
      name,
      inputs: { files: [], env: [] },
      args: {},
      platforms: [],
      labels: {},
      loc: { file: 'images.yaml', line: 1, col: 1 },
    },
    repository: `${REPO}/${name}`,
    repositoryPath: `demo/${name}`,
    parent,
    fingerprint: `sha256:${fp.repeat(64).slice(0, 64)}`,
    fingerprintTag: `fp-${fp.repeat(24).slice(0, 24)}`,
    tags: ['2025.1', '2025.1-p5'],
    dockerfile: 'FROM scratch\n',
    parentRef: null,
    inputs,
    context: [],
    contextDir: null,
  };
}

function state(images: DesiredImage[]): DesiredState {
  return {
    config: { configDigest: 'sha256:cfg' } as Config,
    graph: undefined as never,
    order: images.map((i) => i.name),
    images: new Map(images.map((i) => [i.name, i])),
  };
}

function seen(name: string, partial: Partial<ObservedImage>): ObservedImage {
  return { name, fingerprintDigest: null, tags: {}, previous: null, ...partial };
}

function observation(list: ObservedImage[]): Observation {
  return { images: new Map(list.map((o) => [o.name, o])), observed: { 'b:1': null, 'a:1': 'sha256:x' } };
}

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;
const opts = { configFile: 'images.yaml', now: new Date('2026-01-01T00:00:00Z') };

describe('computePlan', () => {
  it('marks a built image with all tags in place as none, and one with a missing tag as tag', () => {
    const plan = computePlan(
      state([desiredImage('base', null, 'a'), desiredImage('tools', 'base', 'b')]),
      observation([
        seen('base', { fingerprintDigest: D1, tags: { '2025.1': D1, '2025.1-p5': D1 } }),
        seen('tools', { fingerprintDigest: D2, tags: { '2025.1': D2, '2025.1-p5': null } }),
      ]),
      opts,
    );
    expect(plan.images.map((i) => [i.name, i.action])).toEqual([
      ['base', 'none'],
      ['tools', 'tag'],
    ]);
    expect(plan.images[1]!.tagsToAdd).toEqual(['2025.1-p5']);
    expect(plan.images[1]!.reasons).toEqual(['new tag 2025.1-p5 requested']);
    expect(plan.images[1]!.digest).toBe(D2);
    expect(plan.summary).toEqual({ build: 0, tag: 1, none: 1, delete: 0 });
    expect(plan.formatVersion).toBe(1);
    expect(plan.configDigest).toBe('sha256:cfg');
    expect(Object.keys(plan.observed)).toEqual(['a:1', 'b:1']);
  });

  it("asks for the release's record only when everything else is in place, and counts it as the plan's one change", () => {
    const whole = [seen('base', { fingerprintDigest: D1, tags: { '2025.1': D1, '2025.1-p5': D1 } })];
    const desired = { ...state([desiredImage('base', null, 'a')]), releaseName: '2025.1-p5' };
    const missing = computePlan(desired, observation(whole), { ...opts, releaseRecorded: false });
    expect(missing.release).toEqual({ name: '2025.1-p5', record: 'missing' });
    expect(hasChanges(missing)).toBe(true);
    expect(summaryLine(missing)).toBe(
      'Plan: 0 to build, 0 to tag, 1 unchanged, its release record to write.',
    );
    expect(renderText(missing, { color: false })).toContain(
      '+ record release 2025.1-p5  not in the registry',
    );
    const recorded = computePlan(desired, observation(whole), { ...opts, releaseRecorded: true });
    expect(recorded.release).toBeUndefined();
    expect(hasChanges(recorded)).toBe(false);
    // With a build to do, the apply writes the record anyway: the plan says nothing more of it.
    const building = computePlan(desired, observation([seen('base', {})]), {
      ...opts,
      releaseRecorded: false,
    });
    expect(building.release).toBeUndefined();
  });

  it('says a tag moves when it points at another digest', () => {
    const plan = computePlan(
      state([desiredImage('base', null, 'a')]),
      observation([seen('base', { fingerprintDigest: D1, tags: { '2025.1': D2, '2025.1-p5': D1 } })]),
      opts,
    );
    expect(plan.images[0]!.reasons).toEqual(['tag 2025.1 moves here from 222222222222']);
  });

  it('builds an image whose fingerprint is absent, with the input that changed and the rebuilt parent', () => {
    const previous = decodeInputsLabel(
      encodeInputsLabel([
        { kind: 'file', name: 'lists/a.txt', hash: `sha256:${'0'.repeat(64)}` },
        { kind: 'parent', name: '-', hash: `sha256:${'9'.repeat(64)}` },
      ]),
    );
    const current: FingerprintInput[] = [
      { kind: 'file', name: 'lists/a.txt', hash: `sha256:${'f'.repeat(64)}` },
      { kind: 'parent', name: '-', hash: `sha256:${'8'.repeat(64)}` },
    ];
    const plan = computePlan(
      state([desiredImage('base', null, 'a'), desiredImage('tools', 'base', 'b', current)]),
      observation([
        seen('base', {}),
        seen('tools', { previous: { tag: '2025.1', digest: D1, inputs: previous } }),
      ]),
      opts,
    );
    expect(plan.images[0]!.action).toBe('build');
    expect(plan.images[0]!.reasons).toEqual(['not in registry']);
    expect(plan.images[0]!.tagsToAdd.at(-1)).toBe(plan.images[0]!.fingerprintTag);
    const tools = plan.images[1]!;
    expect(tools.action).toBe('build');
    expect(tools.reasons[0]).toBe('parent base is rebuilt');
    expect(tools.reasons.some((r) => r.includes('lists/a.txt'))).toBe(true);
    expect(tools.reasons.some((r) => r.startsWith('parent fingerprint'))).toBe(false);
    expect(hasChanges(plan)).toBe(true);
  });

  it('renders text with a summary line and hides unchanged images unless verbose', () => {
    const plan = computePlan(
      state([desiredImage('base', null, 'a'), desiredImage('tools', 'base', 'b')]),
      observation([
        seen('base', { fingerprintDigest: D1, tags: { '2025.1': D1, '2025.1-p5': D1 } }),
        seen('tools', {}),
      ]),
      opts,
    );
    const text = renderText(plan, { color: false });
    expect(text).toContain('+ build tools');
    expect(text).not.toContain(' base ');
    expect(text.trimEnd().split('\n').at(-1)).toBe('Plan: 1 to build, 0 to tag, 1 unchanged.');
    expect(renderText(plan, { color: false, verbose: true })).toMatch(/none\s+base/);
    expect(text).not.toMatch(/\u001b\[/);
  });

  it('a tag the registry answers 500 for (a link a crash left empty) is written again, and says so', () => {
    const image = desiredImage('base', null, 'a');
    const tagged = computePlan(
      state([image]),
      observation([
        seen('base', {
          fingerprintDigest: D1,
          tags: { '2025.1': null, '2025.1-p5': D1 },
          unreadable: ['2025.1'],
        }),
      ]),
      opts,
    );
    expect(tagged.images[0]).toMatchObject({ action: 'tag', tagsToAdd: ['2025.1'] });
    expect(tagged.images[0]!.reasons).toEqual([
      'tag 2025.1 is unreadable at the registry (it answered 500, as for a link a crash left empty): written again',
    ]);
    // The fingerprint tag unreadable: the image is pushed again (its tag written again).
    const built = computePlan(
      state([image]),
      observation([seen('base', { unreadable: [image.fingerprintTag] })]),
      opts,
    );
    expect(built.images[0]).toMatchObject({ action: 'build' });
    expect(built.images[0]!.reasons).toEqual([
      `fingerprint tag ${image.fingerprintTag} is unreadable at the registry (it answered 500, as for a link a crash left empty): built and pushed again`,
    ]);
  });

  it('says No changes when nothing is to do', () => {
    const plan = computePlan(
      state([desiredImage('base', null, 'a')]),
      observation([seen('base', { fingerprintDigest: D1, tags: { '2025.1': D1, '2025.1-p5': D1 } })]),
      opts,
    );
    expect(summaryLine(plan)).toBe('No changes: 0 to build, 0 to tag, 1 unchanged.');
    expect(hasChanges(plan)).toBe(false);
  });
});
