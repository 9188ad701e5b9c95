// Copying images: within a registry (cross-repository mount, no bytes through arbor) and between
// two registries (blobs streamed GET → PUT/PATCH), for an image and for an index; and the
// artifacts that refer to them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachArtifact } from '../../src/registry/attach.js';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { copyImage } from '../../src/registry/copy.js';
import type { Descriptor } from '../../src/registry/manifest-model.js';
import { OCI_INDEX, OCI_MANIFEST } from '../../src/registry/media-types.js';
import { copyReferrers } from '../../src/transfer/copy-referrers.js';
import { BlobLedger } from '../../src/transfer/ledger.js';
import { emptyTotals } from '../../src/transfer/model.js';
import { SourceManifests } from '../../src/transfer/source-manifests.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { pushImage, pushIndex, skopeoInspect, skopeoTags } from './registry-fixtures.js';

let one: TestRegistry;
let two: TestRegistry;
let a: RegistryClient;
let b: RegistryClient;

beforeAll(async () => {
  [one, two] = await Promise.all([startRegistry(), startRegistry()]);
  a = createRegistryClient({ registry: one.host, insecure: true });
  // Small chunks, so big layers arrive in several PATCHes.
  b = createRegistryClient({ registry: two.host, insecure: true, chunkSize: 256 * 1024 });
});

afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await Promise.all([one && destroyRegistry(one), two && destroyRegistry(two)]);
});

describe('copyImage', () => {
  it('streams every blob to another registry; digests equal on both sides', async () => {
    const image = await pushImage(a, 'src/app', 'v1', { layerSizes: [3 * 1024 * 1024 + 17, 1000] });
    const result = await copyImage(a, 'src/app', 'v1', b, 'dst/app', ['v1', 'stable']);
    expect(result.digest).toBe(image.digest);
    expect(result.blobsCopied).toBe(3);
    expect(result.blobsMounted).toBe(0);
    const blobBytes = image.config.bytes.length + image.layers.reduce((n, l) => n + l.bytes.length, 0);
    expect(result.bytesCopied).toBe(blobBytes);
    expect(b.bytesUploaded).toBe(blobBytes);
    const witness = skopeoInspect(`${two.host}/dst/app:stable`) as { Digest: string; Layers: string[] };
    expect(witness.Digest).toBe(image.digest);
    expect(witness.Layers).toEqual(image.layers.map((l) => l.digest));
    expect(skopeoTags(`${two.host}/dst/app`).sort()).toEqual(['stable', 'v1']);
    // The 3 MiB layer went in 256 KiB chunks: 13 PATCHes.
    const patches = (await two.log())
      .split('\n')
      .filter((l) => l.includes('"PATCH /v2/dst/app/blobs/uploads/'));
    expect(patches).toHaveLength(13);

    // Copying again moves nothing: every blob is there already.
    const again = await copyImage(a, 'src/app', 'v1', b, 'dst/app', ['v1']);
    expect(again).toMatchObject({ blobsCopied: 0, blobsPresent: 3, bytesCopied: 0 });
  });

  it('mounts blobs within one registry instead of moving bytes', async () => {
    const image = await pushImage(a, 'src/lib', 'v1', { layerSizes: [20_000, 30_000] });
    const before = a.bytesUploaded;
    const result = await copyImage(a, 'src/lib', 'v1', a, 'dst/lib', ['v1']);
    expect(result).toMatchObject({ digest: image.digest, blobsMounted: 3, blobsCopied: 0, bytesCopied: 0 });
    expect(a.bytesUploaded).toBe(before);
    expect((skopeoInspect(`${one.host}/dst/lib:v1`) as { Digest: string }).Digest).toBe(image.digest);
  });

  it('copies an index with its children, by digest', async () => {
    const pushed = await pushIndex(a, 'src/multi', 'v2');
    const result = await copyImage(a, 'src/multi', pushed.digest, b, 'dst/multi', ['v2']);
    expect(result.digest).toBe(pushed.digest);
    const raw = await b.getManifest('dst/multi', 'v2');
    expect(raw.bytes.equals(pushed.index)).toBe(true);
    for (const child of pushed.children)
      expect((await b.headManifest('dst/multi', child.digest))?.digest).toBe(child.digest);
    const config = await b.getImageConfig('dst/multi', raw);
    expect(config.labels).toEqual({ arch: 'amd64' });
  });
});

describe('copyReferrers', () => {
  it('takes what refers to an index, to each of its children and to those artifacts, each listed for its subject', async () => {
    const pushed = await pushIndex(a, 'src/signed', 'v1');
    const attach = (subject: Descriptor, artifactType: string, body: string) =>
      attachArtifact(a, 'src/signed', {
        artifactType,
        subject,
        blobs: [{ mediaType: artifactType, bytes: Buffer.from(body) }],
      });
    const indexSbom = await attach(
      { mediaType: OCI_INDEX, digest: pushed.digest, size: pushed.index.length },
      'application/spdx+json',
      'index',
    );
    // `cosign sign --recursive`: each platform's manifest is signed too; and a signed SBOM.
    const [amd64] = pushed.children;
    const childSignature = await attach(
      { mediaType: OCI_MANIFEST, digest: amd64!.digest, size: amd64!.manifest.length },
      'application/vnd.example.signature',
      'amd64',
    );
    const sbomSignature = await attach(indexSbom.descriptor, 'application/vnd.example.signature', 'sbom');
    await copyImage(a, 'src/signed', pushed.digest, b, 'dst/signed', ['v1']);

    const copied = await copyReferrers(
      new SourceManifests(a),
      b,
      'src/signed',
      'dst/signed',
      pushed.digest,
      new BlobLedger(),
      emptyTotals(),
    );
    expect(copied).toBe(3);
    const listed = async (subject: string) =>
      (await b.referrers('dst/signed', subject)).manifests.map((m) => m.digest);
    expect(await listed(pushed.digest)).toEqual([indexSbom.digest]);
    expect(await listed(amd64!.digest)).toEqual([childSignature.digest]);
    expect(await listed(indexSbom.digest)).toEqual([sbomSignature.digest]);
    expect(await listed(pushed.children[1]!.digest)).toEqual([]);

    // Left out by type: what refers to a left-out artifact stays behind with it.
    const filtered = await copyReferrers(
      new SourceManifests(a),
      b,
      'src/signed',
      'dst/filtered',
      pushed.digest,
      new BlobLedger(),
      emptyTotals(),
      { include: (type) => type !== 'application/spdx+json' },
    );
    expect(filtered).toBe(1);
    expect(await b.headManifest('dst/filtered', childSignature.digest)).not.toBeNull();
    expect(await b.headManifest('dst/filtered', sbomSignature.digest)).toBeNull();
  });
});
