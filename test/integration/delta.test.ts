// Layer deltas end to end on real registries (distribution 2.8: the artifacts are listed through
// the sha256-<hex> fallback tag) with small synthetic layers: a publisher attaches deltas to
// release 2, a site registry holding release 1 rebuilds release 2 from them, digest-exact, and
// every way a delta can be unusable falls back to the whole blob with its reason.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseLayerSource, wholeAfterFailedDelta } from '../../src/delta/choose.js';
import { copyImageWithDeltas } from '../../src/delta/copy-with-deltas.js';
import { DeltaUnusable } from '../../src/delta/errors.js';
import { deltaArtifactSpec, type PublishedDelta, parseDeltaRecord } from '../../src/delta/format.js';
import { DeltaPublishCache, publishDeltas } from '../../src/delta/publish.js';
import { deltasForImage, rebuildFromDelta } from '../../src/delta/rebuild.js';
import { computeZstdPatch, patchParameters } from '../../src/delta/zstd.js';
import { attachArtifact } from '../../src/registry/attach.js';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { copyImage } from '../../src/registry/copy.js';
import { digestOf } from '../../src/registry/digest.js';
import type { ImageManifestJson } from '../../src/registry/manifest-model.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import {
  type BuiltLayer,
  layerOf,
  pushIndex,
  pushLayeredImage,
  rootfsFiles,
  tarOf,
  textFile,
  updatedFiles,
} from './delta-fixtures.js';

let central: TestRegistry;
let site: TestRegistry;
let source: RegistryClient;
let target: RegistryClient;

beforeAll(async () => {
  [central, site] = await Promise.all([startRegistry(), startRegistry()]);
  source = createRegistryClient({ registry: central.host, insecure: true });
  target = createRegistryClient({ registry: site.host, insecure: true });
});

afterAll(async () => {
  await Promise.all([source?.close(), target?.close()]);
  await Promise.all([central, site].filter(Boolean).map(destroyRegistry));
});

interface Release {
  digest: string;
  layers: BuiltLayer[];
}

/**
 * Releases 1 and 2 of an image in `repository` at the central registry: a rootfs layer (a few
 * files changed in release 2), a small app layer, and a layer of random bytes (no delta pays).
 */
async function pushReleases(
  repository: string,
  seed: number,
  options: { foreign?: boolean; files?: number } = {},
) {
  // 250 files: a tar under LayerGzip's 1 MiB piece, compressed in-thread (fast); 400 files: several
  // pieces, through fflate's worker, as real layers are.
  const rootfs1 = rootfsFiles(options.files ?? 250, 3000, seed);
  const rootfs2 = updatedFiles(rootfs1, 6, seed + 1);
  const build = async (rootfs: typeof rootfs1, release: number) => [
    await layerOf(await tarOf(rootfs), options),
    await layerOf(await tarOf({ 'etc/app.conf': textFile(2000, seed * 10 + release) })),
    await layerOf(await tarOf({ 'opt/blob.bin': randomBytes(200_000) })),
  ];
  const push = async (tag: string, layers: BuiltLayer[]): Promise<Release> => {
    const commands = ['ADD file:0123456789abcdef0123 in / ', 'COPY app.conf /etc/', 'COPY blob.bin /opt/'];
    const { digest } = await pushLayeredImage(
      source,
      repository,
      tag,
      layers.map((layer, i) => ({ layer, command: commands[i]! })),
    );
    return { digest, layers };
  };
  const r1 = await push('r1', await build(rootfs1, 1));
  const r2 = await push('r2', await build(rootfs2, 2));
  return { r1, r2 };
}

async function publish(repository: string, r1: Release, r2: Release, cache?: DeltaPublishCache) {
  const [m1, m2] = await Promise.all([
    source.getManifest(repository, r1.digest),
    source.getManifest(repository, r2.digest),
  ]);
  return publishDeltas(source, repository, m2, [{ manifest: m1 }], cache ? { cache } : {});
}

/** What a site does for one image: each layer present, rebuilt from a delta, or copied whole. */
async function syncImage(repository: string, digest: string) {
  const synced = await copyImageWithDeltas(source, repository, digest, target, repository, ['r2']);
  return { ...synced, sources: synced.layers.map((l) => l.source) };
}

function blobFile(registry: TestRegistry, digest: string): string {
  const hex = digest.slice('sha256:'.length);
  return join(registry.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
}

describe('publishDeltas', () => {
  it('a layer kept by the next release keeps its delta: a site two releases behind still gets it', async () => {
    const { r1, r2 } = await pushReleases('pub/kept', 5);
    await publish('pub/kept', r1, r2);
    // Release 3: the rootfs of release 2 unchanged; the config file and the random blob changed
    // (the blob is paired with release 2's, so its delta is looked for among release 3's referrers).
    const layers = [
      r2.layers[0]!,
      await layerOf(await tarOf({ 'etc/app.conf': textFile(2000, 53) })),
      await layerOf(await tarOf({ 'opt/blob.bin': randomBytes(200_000) })),
    ];
    const commands = ['ADD file:0123456789abcdef0123 in / ', 'COPY app.conf /etc/', 'COPY blob.bin /opt/'];
    const pushed = await pushLayeredImage(
      source,
      'pub/kept',
      'r3',
      layers.map((layer, i) => ({ layer, command: commands[i]! })),
    );
    const r3 = { digest: pushed.digest, layers };
    const results = await publish('pub/kept', r2, r3);
    const rootfs = results.find((r) => r.target === r2.layers[0]!.descriptor.digest)!;
    expect(rootfs).toMatchObject({ outcome: 'shared' });
    expect(rootfs.reason).toMatch(/carried over/);
    const listed = await deltasForImage(source, 'pub/kept', r3.digest);
    expect(listed.deltas.map((d) => [d.base, d.target])).toEqual([
      [r1.layers[0]!.descriptor.digest, r2.layers[0]!.descriptor.digest],
    ]);
    // Publishing again attaches nothing twice, and lists release 3's referrers once (carrying the
    // deltas of its shared layers and finding those of its changed ones read the same list).
    const mark = (await central.log()).length;
    await publish('pub/kept', r2, r3);
    const r3Index = `sha256-${r3.digest.slice('sha256:'.length)}`;
    const listings = (await central.log())
      .slice(mark)
      .split('\n')
      .filter((line) => line.includes(`"GET /v2/pub/kept/manifests/${r3Index} `));
    expect(listings).toHaveLength(1);
    expect((await deltasForImage(source, 'pub/kept', r3.digest)).deltas).toHaveLength(1);
    // A site at release 1 brought to release 3 rebuilds the rootfs from that delta.
    await copyImageWithDeltas(source, 'pub/kept', r1.digest, target, 'pub/kept', ['r1']);
    const synced = await copyImageWithDeltas(source, 'pub/kept', r3.digest, target, 'pub/kept', ['r3']);
    expect(synced.layers.find((l) => l.digest === r2.layers[0]!.descriptor.digest)?.source.kind).toBe(
      'delta',
    );
  });

  it('attaches a delta for the changed rootfs, declines what does not pay, and reuses both on a rerun', async () => {
    const { r1, r2 } = await pushReleases('pub/app', 1);
    const results = await publish('pub/app', r1, r2);
    const [rootfs, app, blob] = r2.layers.map((l) => results.find((r) => r.target === l.descriptor.digest)!);

    expect(rootfs).toMatchObject({
      outcome: 'published',
      base: r1.layers[0]!.descriptor.digest,
      pairedBy: 'same-command',
    });
    expect(rootfs!.deltaSize!).toBeLessThan(r2.layers[0]!.descriptor.size * 0.2);
    expect(app).toMatchObject({ outcome: 'unpaired' });
    expect(app!.reason).toMatch(/small layer/);
    expect(blob).toMatchObject({ outcome: 'declined', base: r1.layers[2]!.descriptor.digest });
    expect(blob!.reason).toMatch(/a delta would be \d+ % of the blob/);

    const listed = await deltasForImage(source, 'pub/app', r2.digest);
    expect(listed.deltas).toEqual([
      {
        artifact: rootfs!.artifact,
        base: r1.layers[0]!.descriptor.digest,
        target: r2.layers[0]!.descriptor.digest,
        encoding: 'zstd-patch-from',
        size: rootfs!.deltaSize,
      },
    ]);
    expect(listed.declined).toMatchObject([{ target: r2.layers[2]!.descriptor.digest, reason: 'not-worth' }]);
    // The record names both layers (digest and diffID), the encoding and the compressor.
    const artifact = await source.getManifest('pub/app', rootfs!.artifact!);
    const json = artifact.json as ImageManifestJson;
    expect(json.subject?.digest).toBe(r2.digest);
    const record = parseDeltaRecord(
      Buffer.concat(await (await source.getBlob('pub/app', json.config.digest)).stream.toArray()),
    );
    expect(record.base).toMatchObject({
      digest: r1.layers[0]!.descriptor.digest,
      diffId: r1.layers[0]!.diffId,
    });
    expect(record.target).toMatchObject({
      digest: r2.layers[0]!.descriptor.digest,
      diffId: r2.layers[0]!.diffId,
      size: r2.layers[0]!.descriptor.size,
      uncompressedSize: r2.layers[0]!.tar.length,
    });
    expect(record.encoding).toMatchObject({
      encoding: 'zstd-patch-from',
      windowLog: patchParameters(r1.layers[0]!.tar.length, r2.layers[0]!.tar.length)!.windowLog,
    });

    const again = await publish('pub/app', r1, r2);
    expect(again.find((r) => r.target === rootfs!.target)).toMatchObject({
      outcome: 'reused',
      artifact: rootfs!.artifact,
    });
    expect(again.find((r) => r.target === blob!.target)).toMatchObject({ outcome: 'declined' });
    expect(again.find((r) => r.target === blob!.target)!.reason).toMatch(/decided before/);
    const after = await source.referrers('pub/app', r2.digest);
    expect(after.manifests).toHaveLength(2);
  });

  it('computes a pair shared by two repositories once and mounts its delta into the second', async () => {
    const { r1, r2 } = await pushReleases('shared/a', 2);
    await copyImage(source, 'shared/a', 'r1', source, 'shared/b', ['r1']);
    await copyImage(source, 'shared/a', 'r2', source, 'shared/b', ['r2']);
    const cache = new DeltaPublishCache();
    const first = await publish('shared/a', r1, r2, cache);
    const mark = (await central.log()).length;
    const second = await publish('shared/b', r1, r2, cache);
    const rootfs = (rows: typeof first) => rows.find((r) => r.target === r2.layers[0]!.descriptor.digest)!;
    expect(rootfs(first).outcome).toBe('published');
    expect(rootfs(second)).toMatchObject({ outcome: 'published', deltaSize: rootfs(first).deltaSize });
    // No layer was downloaded for the second repository: the computation was shared.
    const log = (await central.log()).slice(mark);
    expect(log).not.toMatch(new RegExp(`GET /v2/shared/b/blobs/${r2.layers[0]!.descriptor.digest}`));
    expect(log).toMatch(/POST \/v2\/shared\/b\/blobs\/uploads\/\?mount=\S+&from=shared%2Fa/);
  });

  it('pairs the children of a multi-platform index by platform, each delta attached to its child', async () => {
    const rootfs = { amd64: rootfsFiles(250, 3000, 8), arm64: rootfsFiles(250, 3000, 9) };
    const releases: Record<
      string,
      { digest: string; manifest: Buffer; architecture: string; layer: BuiltLayer }[]
    > = {};
    for (const release of ['r1', 'r2']) {
      releases[release] = [];
      // The arm64 child is listed first in r2: pairing goes by platform, not by position.
      const order = release === 'r1' ? (['amd64', 'arm64'] as const) : (['arm64', 'amd64'] as const);
      for (const architecture of order) {
        const files = release === 'r1' ? rootfs[architecture] : updatedFiles(rootfs[architecture], 4, 50);
        const layer = await layerOf(await tarOf(files));
        const pushed = await pushLayeredImage(
          source,
          'multi/app',
          `${release}-${architecture}`,
          [{ layer, command: 'ADD rootfs /' }],
          architecture,
        );
        releases[release].push({ ...pushed, architecture, layer });
      }
      await pushIndex(source, 'multi/app', release, releases[release]);
    }
    const [m1, m2] = await Promise.all([
      source.getManifest('multi/app', 'r1'),
      source.getManifest('multi/app', 'r2'),
    ]);
    const results = await publishDeltas(source, 'multi/app', m2, [{ manifest: m1 }]);
    const old = Object.fromEntries(releases.r1!.map((c) => [c.architecture, c.layer.descriptor.digest]));
    expect(results.map((r) => [r.platform, r.outcome, r.subject, r.base])).toEqual(
      releases.r2!.map((c) => [`linux/${c.architecture}`, 'published', c.digest, old[c.architecture]]),
    );
    for (const child of releases.r2!)
      expect((await deltasForImage(source, 'multi/app', child.digest)).deltas).toHaveLength(1);
    await copyImage(source, 'multi/app', 'r1', target, 'multi/app', ['r1']);
    const synced = await copyImageWithDeltas(source, 'multi/app', 'r2', target, 'multi/app', ['r2']);
    expect(synced.layers.map((l) => l.source.kind)).toEqual(['delta', 'delta']);
    expect((await target.headManifest('multi/app', 'r2'))!.digest).toBe(m2.digest);
  });

  it('reports a pair it could not compute (the base blob unreadable) without throwing, and a rerun converges', async () => {
    const { r1, r2 } = await pushReleases('fail/app', 10);
    const file = blobFile(central, r1.layers[0]!.descriptor.digest);
    const stored = await readFile(file);
    await rm(file);
    const failed = await publish('fail/app', r1, r2);
    const rootfs = failed.find((r) => r.target === r2.layers[0]!.descriptor.digest)!;
    expect(rootfs).toMatchObject({ outcome: 'failed', base: r1.layers[0]!.descriptor.digest });
    expect(rootfs.reason).toMatch(/^reading the base layer: .*blob unknown to registry \(404\)$/);
    expect(rootfs.artifact).toBeUndefined();
    expect((await deltasForImage(source, 'fail/app', r2.digest)).deltas).toEqual([]);
    await writeFile(file, stored);
    const again = await publish('fail/app', r1, r2);
    expect(again.find((r) => r.target === rootfs.target)?.outcome).toBe('published');
  });

  it('declines a layer compressed by another tool (not reproducible); the site fetches it whole and says why', async () => {
    const { r1, r2 } = await pushReleases('foreign/app', 3, { foreign: true });
    const results = await publish('foreign/app', r1, r2);
    const rootfs = results.find((r) => r.target === r2.layers[0]!.descriptor.digest)!;
    expect(rootfs.outcome).toBe('declined');
    expect(rootfs.reason).toMatch(/not reproducible/);
    await copyImage(source, 'foreign/app', 'r1', target, 'foreign/app', ['r1']);
    const synced = await syncImage('foreign/app', r2.digest);
    expect(synced.digest).toBe(r2.digest);
    expect(synced.sources[0]).toMatchObject({ kind: 'whole' });
    expect(synced.sources[0]!.reason).toMatch(/no delta: not reproducible/);
  });
});

describe('a site rebuilding release 2 from deltas', () => {
  it('rebuilds the changed layer digest-exact and copies the rest; the image keeps its digest', async () => {
    const { r1, r2 } = await pushReleases('site/app', 4, { files: 400 });
    await publish('site/app', r1, r2);
    await copyImage(source, 'site/app', 'r1', target, 'site/app', ['r1']);
    const synced = await syncImage('site/app', r2.digest);
    expect(synced.digest).toBe(r2.digest);
    expect(synced.sources.map((s) => s.kind)).toEqual(['delta', 'whole', 'whole']);
    expect(synced.sources[2]!.reason).toMatch(/no delta: a delta would be/);
    const rebuilt = await target.getBlob('site/app', r2.layers[0]!.descriptor.digest);
    const bytes = Buffer.concat(await rebuilt.stream.toArray());
    expect(digestOf(bytes)).toBe(r2.layers[0]!.descriptor.digest);
    // Over the link: the delta artifact and the two small layers, far less than the rootfs layer.
    const whole = r2.layers.reduce((n, l) => n + l.descriptor.size, 0);
    expect(synced.sourceBytes).toBeLessThan(whole - r2.layers[0]!.descriptor.size * 0.8);
    expect((await target.headManifest('site/app', 'r2'))!.digest).toBe(r2.digest);
  });

  it('rebuilds a layer shared by two repositories once: the second mounts it at the target', async () => {
    const { r1, r2 } = await pushReleases('two/a', 7);
    await copyImage(source, 'two/a', 'r1', source, 'two/b', ['r1']);
    await copyImage(source, 'two/a', 'r2', source, 'two/b', ['r2']);
    const cache = new DeltaPublishCache();
    const compressedByArbor = new Set(r2.layers.map((l) => l.descriptor.digest));
    for (const repository of ['two/a', 'two/b']) {
      const [m1, m2] = await Promise.all([
        source.getManifest(repository, 'r1'),
        source.getManifest(repository, 'r2'),
      ]);
      await publishDeltas(source, repository, m2, [{ manifest: m1 }], { cache, compressedByArbor });
      await copyImage(source, repository, 'r1', target, repository, ['r1']);
    }
    const atTarget = new Map<string, string>();
    const a = await copyImageWithDeltas(source, 'two/a', 'r2', target, 'two/a', ['r2'], { atTarget });
    const b = await copyImageWithDeltas(source, 'two/b', 'r2', target, 'two/b', ['r2'], { atTarget });
    expect(a.layers[0]!.source.kind).toBe('delta');
    expect(b.layers.map((l) => l.source)).toEqual([
      { kind: 'present', reason: 'mounted from two/a at the target' },
      { kind: 'present', reason: 'mounted from two/a at the target' },
      { kind: 'present', reason: 'mounted from two/a at the target' },
    ]);
    expect(b.sourceBytes).toBe(0);
    expect((await target.headManifest('two/b', 'r2'))!.digest).toBe(r2.digest);
    // Without deltas the same copy takes every missing layer whole.
    const whole = await copyImageWithDeltas(source, 'two/a', 'r2', target, 'two/c', [], { deltas: false });
    expect(whole.layers.map((l) => l.source.kind)).toEqual(['whole', 'whole', 'whole']);
    expect(whole.layers[0]!.source.reason).toBe('no delta published for this layer');
    expect(r1.layers).toHaveLength(3);
  });

  it('falls back with a reason when the base is not at the target', async () => {
    const { r1, r2 } = await pushReleases('nobase/app', 5);
    await publish('nobase/app', r1, r2);
    const { deltas } = await deltasForImage(source, 'nobase/app', r2.digest);
    const layer = r2.layers[0]!.descriptor;
    const choice = chooseLayerSource(layer, {
      presentAtTarget: false,
      deltasAvailable: deltas,
      baseLayersAtTarget: new Set(),
    });
    expect(choice).toMatchObject({
      kind: 'whole',
      reason: expect.stringMatching(/no delta base is at the target/),
    });
    const failure = await rebuildFromDelta(source, target, {
      sourceRepository: 'nobase/app',
      targetRepository: 'nobase/app',
      layer,
      delta: deltas[0]!,
    }).catch((e) => e);
    expect(failure).toBeInstanceOf(DeltaUnusable);
    expect(failure.reason).toBe('base-missing');
  });

  it('falls back when the delta does not decode, decodes to another layer, or its bytes or the base are damaged', async () => {
    const { r1, r2 } = await pushReleases('bad/app', 6);
    const results = await publish('bad/app', r1, r2);
    await copyImage(source, 'bad/app', 'r1', target, 'bad/app', ['r1']);
    const layer = r2.layers[0]!.descriptor;
    const good = (await deltasForImage(source, 'bad/app', r2.digest)).deltas[0]!;
    const recordOf = async (delta: PublishedDelta) => {
      const m = (await source.getManifest('bad/app', delta.artifact)).json as ImageManifestJson;
      return parseDeltaRecord(
        Buffer.concat(await (await source.getBlob('bad/app', m.config.digest)).stream.toArray()),
      );
    };
    const record = await recordOf(good);
    const subject = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: r2.digest, size: 0 };
    subject.size = (await source.getManifest('bad/app', r2.digest)).bytes.length;
    const attachDelta = async (bytes: Buffer): Promise<PublishedDelta> => {
      const digest = digestOf(bytes);
      await source.uploadBlob('bad/app', digest, bytes, bytes.length);
      const attached = await attachArtifact(
        source,
        'bad/app',
        deltaArtifactSpec(subject, record, { digest, size: bytes.length }),
      );
      return { ...good, artifact: attached.digest, size: bytes.length };
    };
    const attempt = (delta: PublishedDelta) =>
      rebuildFromDelta(source, target, {
        sourceRepository: 'bad/app',
        targetRepository: 'bad/app',
        layer,
        delta,
      }).then(
        () => undefined,
        (e) => e as DeltaUnusable,
      );

    // Not a zstd frame at all.
    const garbage = await attempt(await attachDelta(randomBytes(5000)));
    expect(garbage).toMatchObject({
      reason: 'delta-corrupt',
      message: expect.stringMatching(/zstd could not decode/),
    });
    expect(wholeAfterFailedDelta(layer, good, garbage!).reason).toMatch(
      /unusable \(delta-corrupt: .*\): sent whole/,
    );

    // A valid delta from the right base to another tar: the rebuilt layer is not the manifest's.
    const dir = await mkdtemp(join(tmpdir(), 'arbor-delta-test-'));
    try {
      await writeFile(join(dir, 'old.tar'), r1.layers[0]!.tar);
      await writeFile(join(dir, 'other.tar'), await tarOf(rootfsFiles(250, 3000, 77)));
      const p = patchParameters(r1.layers[0]!.tar.length, 1_000_000)!;
      await computeZstdPatch(join(dir, 'old.tar'), join(dir, 'other.tar'), join(dir, 'd.zst'), p);
      const wrong = await attempt(await attachDelta(await readFile(join(dir, 'd.zst'))));
      expect(wrong).toMatchObject({
        reason: 'mismatch',
        message: expect.stringMatching(/not the layer's diffID/),
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }

    // The delta blob damaged in the source registry's storage.
    const blobDigest = ((await source.getManifest('bad/app', good.artifact)).json as ImageManifestJson)
      .layers[0]!.digest;
    const stored = await readFile(blobFile(central, blobDigest));
    stored[10] = stored[10]! ^ 0xff;
    await writeFile(blobFile(central, blobDigest), stored);
    expect(await attempt(good)).toMatchObject({ reason: 'delta-corrupt' });
    stored[10] = stored[10]! ^ 0xff;
    await writeFile(blobFile(central, blobDigest), stored);

    // The base damaged in the site registry's storage.
    const base = r1.layers[0]!.descriptor.digest;
    const baseBytes = await readFile(blobFile(site, base));
    await writeFile(
      blobFile(site, base),
      Buffer.concat([baseBytes.subarray(0, 100), Buffer.alloc(50), baseBytes.subarray(150)]),
    );
    expect(await attempt(good)).toMatchObject({ reason: 'base-mismatch' });
    await writeFile(blobFile(site, base), baseBytes);

    // An artifact deleted at the source since the referrers list was read (last: distribution then
    // refuses further updates of the fallback index that lists it).
    const gone = await attachDelta(randomBytes(100));
    await source.deleteManifest('bad/app', gone.artifact);
    expect(await attempt(gone)).toMatchObject({
      reason: 'malformed',
      message: expect.stringMatching(/^reading the delta artifact: .*\(404\)$/),
    });

    // Restored, the published delta works.
    expect(await attempt(good)).toBeUndefined();
    expect(results.find((r) => r.target === layer.digest)?.outcome).toBe('published');
  });
});
