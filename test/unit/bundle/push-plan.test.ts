// The push plan from plain values: what the target answered decides, per image, what is uploaded
// (each blob once), mounted, already there, which tags move, and which left-out blobs of an
// update bundle are missing.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { bundleLayout } from '../../../src/bundle/layout.js';
import { planPush, type TargetState } from '../../../src/bundle/push-plan.js';
import { parsePushTarget } from '../../../src/bundle/target.js';
import { ContentBuilder, fakeArtifact, fakeImage, sha256 } from './fixtures.js';

const empty: TargetState = { manifests: new Set(), blobs: new Set(), tags: new Map() };
const target = { registry: 'site:5000', namespace: 'ns' };

function release() {
  const base = randomBytes(5000);
  const a = fakeImage([base, randomBytes(100)]);
  const b = fakeImage([base, randomBytes(200)]);
  const built = new ContentBuilder()
    .addImage(a)
    .addImage(b)
    .name('a', a.manifest.digest, ['1', 'fp-a'])
    .name('b', b.manifest.digest, ['1']);
  return { base, a, b, built, toc: bundleLayout(built.content, { source: 's' }).toc };
}

describe('planPush', () => {
  it('uploads each blob once into the first repository that needs it; the others mount', () => {
    const { base, a, b, built, toc } = release();
    const plan = planPush(built.content, toc, target, empty);
    expect(plan.target).toBe('site:5000/ns');
    expect(plan.streamed.get(sha256(base))).toEqual(['ns/a', 'ns/b']);
    const [pa, pb] = plan.images;
    expect(pa).toMatchObject({ name: 'a', repository: 'ns/a', manifestsToPut: 1, mount: 0, present: 0 });
    expect(pa!.upload).toEqual({ blobs: 3, bytes: a.config.length + base.length + 100 });
    expect(pb).toMatchObject({
      name: 'b',
      manifestsToPut: 1,
      mount: 1,
      upload: { blobs: 2, bytes: b.config.length + 200 },
    });
    expect(plan.tagMoves.map((t) => `${t.repository}:${t.tag}`)).toEqual(['ns/a:1', 'ns/a:fp-a', 'ns/b:1']);
    expect(plan.summary).toEqual({
      images: 2,
      unchanged: 0,
      manifests: 2,
      upload: { blobs: 5, bytes: pa!.upload.bytes + pb!.upload.bytes },
      mount: 1,
      present: 0,
      tags: 3,
    });
  });

  it('mounts what another repository of the target holds and skips what the repository has', () => {
    const { base, b, built, toc } = release();
    const state: TargetState = {
      manifests: new Set(),
      blobs: new Set([`ns/old@${sha256(base)}`, `ns/b@${sha256(b.config)}`]),
      tags: new Map(),
    };
    const plan = planPush(built.content, toc, target, state);
    expect(plan.holders.get(sha256(base))).toEqual(['ns/old']);
    expect(plan.images[0]).toMatchObject({ mount: 1, upload: { blobs: 2 } });
    expect(plan.images[1]).toMatchObject({ mount: 1, present: 1, upload: { blobs: 1 } });
  });

  it('needs nothing for an image already there, and moves only the tags that differ', () => {
    const { a, b, built, toc } = release();
    const old = `sha256:${'0'.repeat(64)}`;
    const state: TargetState = {
      manifests: new Set([`ns/a@${a.manifest.digest}`, `ns/b@${b.manifest.digest}`]),
      blobs: new Set(),
      tags: new Map([
        ['ns/a:1', a.manifest.digest],
        ['ns/a:fp-a', a.manifest.digest],
        ['ns/b:1', old],
      ]),
    };
    const plan = planPush(built.content, toc, target, state);
    expect(plan.summary).toMatchObject({
      unchanged: 1,
      manifests: 0,
      upload: { blobs: 0, bytes: 0 },
      mount: 0,
      tags: 1,
    });
    expect(plan.tagMoves).toEqual([{ repository: 'ns/b', tag: '1', from: old, to: b.manifest.digest }]);
    expect(plan.images[0]!.unchangedTags).toEqual(['1', 'fp-a']);
    expect([...plan.streamed.values()].every((r) => r.length === 0)).toBe(true);
  });

  it('names the left-out blobs of an update bundle that the target lacks', () => {
    const { base, a, built } = release();
    const toc = bundleLayout(built.content, {
      source: 's',
      since: { release: 'r0', blobs: new Set([sha256(base)]) },
    }).toc;
    const lacking = planPush(built.content, toc, target, empty);
    expect(lacking.missing).toEqual([
      { digest: sha256(base), size: base.length, image: 'a', repository: 'ns/a' },
      { digest: sha256(base), size: base.length, image: 'b', repository: 'ns/b' },
    ]);
    // The target has release r0: its images' blobs are there.
    const withR0: TargetState = {
      manifests: new Set(),
      blobs: new Set([`ns/a@${sha256(base)}`]),
      tags: new Map(),
    };
    const plan = planPush(built.content, toc, target, withR0);
    expect(plan.missing).toEqual([]);
    expect(plan.images[0]).toMatchObject({ present: 1, upload: { blobs: 2, bytes: a.config.length + 100 } });
    expect(plan.images[1]).toMatchObject({ mount: 1 });
  });

  it('plans referrers with their image: their manifest, config and blobs', () => {
    const { a, built } = release();
    const sbom = fakeArtifact(a.manifest, Buffer.from('{"sbom":1}'));
    built.addArtifact(sbom);
    const toc = bundleLayout(built.content, { source: 's' }).toc;
    const state: TargetState = {
      manifests: new Set([`ns/a@${a.manifest.digest}`]),
      blobs: new Set(),
      tags: new Map(),
    };
    const plan = planPush(built.content, toc, target, state);
    expect(plan.images[0]).toMatchObject({
      manifestsToPut: 1,
      upload: { blobs: 2, bytes: 2 + sbom.blob.length },
    });
    expect(plan.streamed.get(sha256(sbom.blob))).toEqual(['ns/a']);
  });
});

describe('parsePushTarget', () => {
  it('reads REGISTRY[/NAMESPACE] and refuses anything else with the expected form', () => {
    expect(parsePushTarget('127.0.0.1:5000/site')).toEqual({ registry: '127.0.0.1:5000', namespace: 'site' });
    expect(parsePushTarget('registry.example/a/b/')).toEqual({
      registry: 'registry.example',
      namespace: 'a/b',
    });
    expect(parsePushTarget('localhost:5000')).toEqual({ registry: 'localhost:5000', namespace: '' });
    expect(() => parsePushTarget('https://r/x')).toThrow(
      /target "https:\/\/r\/x": registry is host\[:port\] without a scheme/,
    );
    expect(() => parsePushTarget('r:5000/Upper')).toThrow(
      /must be lowercase \(expected REGISTRY\[\/NAMESPACE\]/,
    );
  });
});
