// The files of a bundle computed from plain content: what index.json, manifest.json and the table
// of contents say, which blobs come in which order, and that the same content gives the same bytes.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseToc } from '../../../src/bundle/format.js';
import { bundleLayout, dockerManifest } from '../../../src/bundle/layout.js';
import { ContentBuilder, fakeArtifact, fakeImage, fakeIndex, sha256 } from './fixtures.js';

const fileOf = (layout: ReturnType<typeof bundleLayout>, name: string) =>
  JSON.parse(layout.files.find((f) => f.name === name)!.bytes.toString('utf8'));

function twoImages() {
  const base = randomBytes(3000);
  const a = fakeImage([base, randomBytes(100)]);
  const b = fakeImage([base, randomBytes(200)]);
  const built = new ContentBuilder()
    .addImage(a)
    .addImage(b)
    .name('b-image', b.manifest.digest, ['2025.1', 'fp-1'])
    .name('a-image', a.manifest.digest, ['2025.1']);
  return { a, b, base, built };
}

describe('bundleLayout', () => {
  it('lists each image and tag in index.json, sorted, with its name and source', () => {
    const { a, b, built } = twoImages();
    const layout = bundleLayout(built.content, { source: '127.0.0.1:5000/demo' });
    expect(layout.files.map((f) => f.name)).toEqual([
      'oci-layout',
      'index.json',
      'arbor-bundle.json',
      'manifest.json',
      'repositories',
    ]);
    const index = fileOf(layout, 'index.json');
    expect(
      index.manifests.map(
        (m: { annotations: Record<string, string> }) => m.annotations['org.opencontainers.image.ref.name'],
      ),
    ).toEqual(['a-image:2025.1', 'b-image:2025.1', 'b-image:fp-1']);
    expect(index.manifests[0]).toMatchObject({
      digest: a.manifest.digest,
      size: a.manifest.bytes.length,
      annotations: {
        'io.containerd.image.name': '127.0.0.1:5000/demo/a-image:2025.1',
        'org.arbor.bundle.name': 'a-image',
      },
    });
    expect(index.manifests[2].digest).toBe(b.manifest.digest);
  });

  it('holds every blob once, manifests then configs then the rest, each by digest', () => {
    const { a, b, base, built } = twoImages();
    const layout = bundleLayout(built.content, { source: 'x' });
    const digests = layout.blobs.map((x) => x.digest);
    expect(new Set(digests).size).toBe(digests.length);
    expect(digests.filter((d) => d === sha256(base))).toHaveLength(1);
    expect(layout.blobs.map((x) => x.kind)).toEqual([
      'manifest',
      'manifest',
      'config',
      'config',
      'blob',
      'blob',
      'blob',
    ]);
    const manifests = [a.manifest.digest, b.manifest.digest].sort();
    expect(digests.slice(0, 2)).toEqual(manifests);
    const rest = digests.slice(4);
    expect(rest).toEqual([...rest].sort());
    // The table of contents says the same and reads back.
    const toc = parseToc(layout.files.find((f) => f.name === 'arbor-bundle.json')!.bytes, 'test');
    expect(toc.blobs).toEqual(layout.blobs);
    expect(toc.source).toBe('x');
  });

  it('gives the same bytes for the same content, whatever order it was gathered in', () => {
    const { a, b, built } = twoImages();
    const again = new ContentBuilder()
      .addImage(b)
      .addImage(a)
      .name('a-image', a.manifest.digest, ['2025.1'])
      .name('b-image', b.manifest.digest, ['fp-1', '2025.1']);
    const one = bundleLayout(built.content, { source: 's' });
    const two = bundleLayout(again.content, { source: 's' });
    expect(two.files).toEqual(one.files);
    expect(two.blobs).toEqual(one.blobs);
  });

  it('writes manifest.json for docker load: one entry per manifest, every name, layers in order', () => {
    const { a, b, built } = twoImages();
    const docker = fileOf(bundleLayout(built.content, { source: 's' }), 'manifest.json');
    expect(docker).toEqual([
      {
        Config: `blobs/sha256/${sha256(a.config).slice(7)}`,
        RepoTags: ['127.0.0.1:5000/demo/a-image:2025.1'],
        Layers: a.layers.map((l) => `blobs/sha256/${sha256(l).slice(7)}`),
      },
      {
        Config: `blobs/sha256/${sha256(b.config).slice(7)}`,
        RepoTags: ['127.0.0.1:5000/demo/b-image:2025.1', '127.0.0.1:5000/demo/b-image:fp-1'],
        Layers: b.layers.map((l) => `blobs/sha256/${sha256(l).slice(7)}`),
      },
    ]);
    const repositories = fileOf(bundleLayout(built.content, { source: 's' }), 'repositories');
    expect(repositories['127.0.0.1:5000/demo/b-image']).toEqual({
      '2025.1': sha256(b.layers[1]!).slice(7),
      'fp-1': sha256(b.layers[1]!).slice(7),
    });
  });

  it('keeps every platform of an index in the layout, names the chosen one for docker', () => {
    const amd = fakeImage([randomBytes(50)], { architecture: 'amd64' });
    const arm = fakeImage([randomBytes(50)], { architecture: 'arm64' });
    const index = fakeIndex([
      { image: amd, architecture: 'amd64' },
      { image: arm, architecture: 'arm64' },
    ]);
    const built = new ContentBuilder().addIndex(index, [amd, arm]).name('multi', index.digest, ['1']);
    const layout = bundleLayout(built.content, { source: 's' });
    expect(layout.blobs.filter((b) => b.kind === 'manifest')).toHaveLength(3);
    expect(layout.blobs.filter((b) => b.kind === 'blob')).toHaveLength(2);
    expect(fileOf(layout, 'index.json').manifests).toEqual([
      expect.objectContaining({ digest: index.digest }),
    ]);
    const forArm = dockerManifest(built.content, { os: 'linux', architecture: 'arm64' });
    expect(forArm.entries[0]!.Config).toBe(`blobs/sha256/${sha256(arm.config).slice(7)}`);
    const forAmd = dockerManifest(built.content, { os: 'linux', architecture: 'amd64' });
    expect(forAmd.entries[0]!.Config).toBe(`blobs/sha256/${sha256(amd.config).slice(7)}`);
  });

  it("leaves an image with zstd layers out of Docker's manifest.json (docker load would stop there), and says so", () => {
    const plain = fakeImage([randomBytes(50)]);
    const zstd = fakeImage([randomBytes(50)], {
      layerMediaType: 'application/vnd.oci.image.layer.v1.tar+zstd',
    });
    const built = new ContentBuilder()
      .addImage(plain)
      .name('plain', plain.manifest.digest, ['1'])
      .addImage(zstd)
      .name('squeezed', zstd.manifest.digest, ['1']);
    const layout = bundleLayout(built.content, { source: 's' });
    expect(layout.notForDockerLoad).toEqual(['squeezed']);
    const docker = fileOf(layout, 'manifest.json') as { Config: string }[];
    expect(docker.map((e) => e.Config)).toEqual([`blobs/sha256/${sha256(plain.config).slice(7)}`]);
    // Still in the OCI layout, for podman, skopeo and bundle push.
    expect(layout.blobs.filter((b) => b.kind === 'manifest')).toHaveLength(2);
  });

  it('carries referrers: listed in index.json without a name, their blobs in the file', () => {
    const { a, built } = twoImages();
    const sbom = fakeArtifact(a.manifest, Buffer.from('{"spdxVersion":"SPDX-2.3"}'));
    built.addArtifact(sbom);
    const layout = bundleLayout(built.content, { source: 's' });
    const index = fileOf(layout, 'index.json');
    const last = index.manifests.at(-1);
    expect(last).toEqual({
      mediaType: sbom.manifest.mediaType,
      digest: sbom.manifest.digest,
      size: sbom.manifest.bytes.length,
      artifactType: 'application/spdx+json',
    });
    const digests = layout.blobs.map((b) => b.digest);
    expect(digests).toContain(sha256(sbom.blob));
    expect(digests).toContain(sha256(sbom.config));
    // Not an image for docker.
    expect(fileOf(layout, 'manifest.json')).toHaveLength(2);
  });

  it('leaves out an earlier release’s layers in an update bundle, never manifests or configs', () => {
    const { a, b, base, built } = twoImages();
    const earlier = new Set([sha256(base), sha256(a.config), a.manifest.digest, sha256(a.layers[1]!)]);
    const layout = bundleLayout(built.content, { source: 's', since: { release: 'r0', blobs: earlier } });
    const digests = layout.blobs.map((x) => x.digest);
    expect(digests).not.toContain(sha256(base));
    expect(digests).not.toContain(sha256(a.layers[1]!));
    expect(digests).toContain(sha256(a.config));
    expect(digests).toContain(a.manifest.digest);
    expect(digests).toContain(sha256(b.layers[1]!));
    expect(layout.toc.since).toEqual({
      release: 'r0',
      omitted: [sha256(base), sha256(a.layers[1]!)]
        .sort()
        .map((d) => ({ digest: d, size: d === sha256(base) ? base.length : a.layers[1]!.length })),
    });
    // Engines cannot load images without their layers: no manifest.json in an update bundle.
    expect(layout.files.map((f) => f.name)).toEqual(['oci-layout', 'index.json', 'arbor-bundle.json']);
  });

  it('refuses two sources naming the same name:tag with different images', () => {
    const a = fakeImage([randomBytes(10)]);
    const b = fakeImage([randomBytes(10)]);
    const built = new ContentBuilder()
      .addImage(a)
      .addImage(b)
      .name('app', a.manifest.digest, ['1'])
      .name('app', b.manifest.digest, ['1']);
    expect(() => bundleLayout(built.content, { source: 's' })).toThrow(/app:1 would name two images/);
  });
});

describe('parseToc', () => {
  const good = { formatVersion: 1, source: 's', blobs: [] as unknown[] };
  const parse = (value: unknown) => () => parseToc(Buffer.from(JSON.stringify(value)), 'b.tar');
  it('refuses what is not a table of contents, naming the file', () => {
    expect(() => parseToc(Buffer.from('{'), 'b.tar')).toThrow(
      /^error: b\.tar: arbor-bundle\.json is not JSON/,
    );
    expect(parse({ ...good, formatVersion: 2 })).toThrow(/formatVersion 2 \(this arbor reads 1/);
    expect(parse({ ...good, blobs: [{ digest: 'sha256:x', size: 1, kind: 'blob' }] })).toThrow(
      /blob 0 is malformed/,
    );
    const d1 = `sha256:${'1'.repeat(64)}`;
    const d2 = `sha256:${'2'.repeat(64)}`;
    expect(
      parse({
        ...good,
        blobs: [
          { digest: d2, size: 1, kind: 'blob' },
          { digest: d1, size: 1, kind: 'blob' },
        ],
      }),
    ).toThrow(/not in bundle order/);
    expect(
      parse({
        ...good,
        blobs: [
          { digest: d1, size: 1, kind: 'blob' },
          { digest: d1, size: 1, kind: 'blob' },
        ],
      }),
    ).toThrow(/listed twice/);
    expect(parse({ ...good, since: { release: 'r', omitted: [{}] } })).toThrow(/since is malformed/);
  });
});
