// Deletion as the real registry answers it: by digest (deleted, then not-found), tag deletion
// that distribution 2.8 does not support, and a registry with deletion disabled.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { pushImage, skopeo, skopeoTags } from './registry-fixtures.js';

let registry: TestRegistry;
let locked: TestRegistry;
let client: RegistryClient;
let lockedClient: RegistryClient;

beforeAll(async () => {
  [registry, locked] = await Promise.all([startRegistry(), startRegistry({ deleteEnabled: false })]);
  client = createRegistryClient({ registry: registry.host, insecure: true });
  lockedClient = createRegistryClient({ registry: locked.host, insecure: true });
});

afterAll(async () => {
  await Promise.all([client?.close(), lockedClient?.close()]);
  await Promise.all([registry && destroyRegistry(registry), locked && destroyRegistry(locked)]);
});

describe('deleteManifest', () => {
  it('deletes by digest: the tags pointing at it are gone, a second delete is not-found', async () => {
    const doomed = await pushImage(client, 'ns/app', 'old');
    await client.tagManifest('ns/app', 'old', 'old-alias');
    const kept = await pushImage(client, 'ns/app', 'new');
    expect(await client.deleteManifest('ns/app', doomed.digest)).toBe('deleted');
    expect(await client.headManifest('ns/app', doomed.digest)).toBeNull();
    expect(await client.headManifest('ns/app', 'old')).toBeNull();
    expect(skopeoTags(`${registry.host}/ns/app`)).toEqual(['new']);
    expect((await client.headManifest('ns/app', 'new'))?.digest).toBe(kept.digest);
    expect(await client.deleteManifest('ns/app', doomed.digest)).toBe('not-found');
    const gone = (() => {
      try {
        skopeo([
          'inspect',
          '--tls-verify=false',
          '--raw',
          `docker://${registry.host}/ns/app@${doomed.digest}`,
        ]);
        return false;
      } catch {
        return true;
      }
    })();
    expect(gone).toBe(true);
  });

  it("is 'unsupported' on a registry with deletion disabled, and nothing is deleted", async () => {
    const image = await pushImage(lockedClient, 'ns/app', 'v1');
    expect(await lockedClient.deleteManifest('ns/app', image.digest)).toBe('unsupported');
    expect((await lockedClient.headManifest('ns/app', 'v1'))?.digest).toBe(image.digest);
  });
});

describe('deleteTag', () => {
  it("is 'unsupported' on distribution 2.8 (no OCI 1.1 tag deletion), and the tag stays", async () => {
    const image = await pushImage(client, 'ns/tagged', 'v1');
    expect(await client.deleteTag('ns/tagged', 'v1')).toBe('unsupported');
    expect((await client.headManifest('ns/tagged', 'v1'))?.digest).toBe(image.digest);
    expect(await lockedClient.deleteTag('ns/app', 'v1')).toBe('unsupported');
  });
});
