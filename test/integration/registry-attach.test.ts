// Attaching artifacts to an image on distribution 2.8, which has no referrers API: the artifact
// manifest is stored by digest and listed in the `sha256-<hex>` fallback index, which the
// referrers reader then finds; concurrent attachers all end up listed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactManifest, attachArtifact } from '../../src/registry/attach.js';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { pushImage } from './registry-fixtures.js';

let registry: TestRegistry;
let client: RegistryClient;

beforeAll(async () => {
  registry = await startRegistry();
  client = createRegistryClient({ registry: registry.host, insecure: true });
});

afterAll(async () => {
  await client?.close();
  if (registry) await destroyRegistry(registry);
});

describe('attachArtifact', () => {
  it('stores the artifact and lists it under the fallback tag; the referrers reader finds it', async () => {
    const image = await pushImage(client, 'ns/app', 'v1', { layerSizes: [1000] });
    const head = (await client.headManifest('ns/app', 'v1'))!;
    const subject = { mediaType: head.mediaType, digest: head.digest, size: head.size };
    const attached = await attachArtifact(client, 'ns/app', {
      artifactType: 'application/vnd.example.note.v1+json',
      subject,
      blobs: [{ mediaType: 'application/json', bytes: Buffer.from('{"note":"hello"}') }],
      annotations: { 'org.example.kind': 'note' },
    });
    expect(attached.via).toBe('tag-schema');
    const stored = await client.getManifest('ns/app', attached.digest);
    expect(
      stored.bytes.equals(
        artifactManifest({
          artifactType: 'application/vnd.example.note.v1+json',
          subject,
          blobs: [{ mediaType: 'application/json', bytes: Buffer.from('{"note":"hello"}') }],
          annotations: { 'org.example.kind': 'note' },
        }).bytes,
      ),
    ).toBe(true);
    const found = await client.referrers('ns/app', image.digest);
    expect(found.source).toBe('tag-schema');
    expect(found.manifests).toEqual([attached.descriptor]);
    // Attaching the same artifact again lists it once.
    await attachArtifact(client, 'ns/app', {
      artifactType: 'application/vnd.example.note.v1+json',
      subject,
      blobs: [{ mediaType: 'application/json', bytes: Buffer.from('{"note":"hello"}') }],
      annotations: { 'org.example.kind': 'note' },
    });
    expect((await client.referrers('ns/app', image.digest)).manifests).toHaveLength(1);
    const filtered = await client.referrers('ns/app', image.digest, { artifactType: 'application/other' });
    expect(filtered.manifests).toEqual([]);
  });

  it('lists every artifact when several are attached at once', async () => {
    await pushImage(client, 'ns/many', 'v1', { layerSizes: [500] });
    const head = (await client.headManifest('ns/many', 'v1'))!;
    const subject = { mediaType: head.mediaType, digest: head.digest, size: head.size };
    const attached = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        attachArtifact(client, 'ns/many', {
          artifactType: 'application/vnd.example.note.v1+json',
          subject,
          blobs: [{ mediaType: 'application/json', bytes: Buffer.from(JSON.stringify({ i })) }],
        }),
      ),
    );
    const listed = (await client.referrers('ns/many', head.digest)).manifests.map((d) => d.digest).sort();
    expect(listed).toEqual(attached.map((a) => a.digest).sort());
  });
});
