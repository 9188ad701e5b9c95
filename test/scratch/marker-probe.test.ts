import { afterAll, beforeAll, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { OCI_MANIFEST } from '../../src/registry/media-types.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { day, pushVersion } from '../integration/retention-fixtures.js';

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
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
it('probe', async () => {
  const d = await pushVersion(client, 'ns/m', ['a'], day(1));
  const m = await client.getManifest('ns/m', d);
  expect(await client.deleteManifest('ns/m', d)).toBe('deleted');
  console.log('after delete head', await client.headManifest('ns/m', d), await client.listTags('ns/m').catch(e => e.message));
  await client.putManifest('ns/m', 'again', m.bytes, m.mediaType);
  console.log('after re-put', await client.headManifest('ns/m', 'again'));
  const empty = Buffer.from('{}');
  await client.uploadBlob('ns/m', sha(empty), empty, 2);
  const marker = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: 'application/vnd.arbor.retention.marker.v1', config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(empty), size: 2 }, layers: [], annotations: { 'org.arbor.retention.run': 'x' } }));
  try { console.log('marker', await client.putManifest('ns/m', 'arbor-retention-x', marker, OCI_MANIFEST)); } catch (e) { console.log('marker failed', (e as Error).message); }
  const marker2 = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(empty), size: 2 }, layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: sha(empty), size: 2 }], annotations: { 'org.arbor.retention.run': 'x' } }));
  try { console.log('marker2', await client.putManifest('ns/m', 'arbor-retention-y', marker2, OCI_MANIFEST)); } catch (e) { console.log('marker2 failed', (e as Error).message); }
  console.log(await client.listTags('ns/m'));
});
