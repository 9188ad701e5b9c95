// The wire format against the real registry, with skopeo as the witness: manifests (image and
// index), config blobs, digests, tags, mounts, referrers fallback.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { RegistryError } from '../../src/registry/errors.js';
import { DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST } from '../../src/registry/media-types.js';
import { USER_AGENT } from '../../src/registry/transport/user-agent.js';
import { requireEngine } from '../support/engine.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import {
  buildAndPushBusybox,
  pushImage,
  pushIndex,
  sha256,
  skopeoInspect,
  skopeoTags,
} from './registry-fixtures.js';

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

describe('manifests of an image the engine built and pushed', () => {
  it('HEAD, GET and the config equal what skopeo reports', async () => {
    requireEngine();
    const ref = `${registry.host}/ns/busybox:1.0`;
    buildAndPushBusybox(ref, 'wire');
    const witness = skopeoInspect(ref) as {
      Digest: string;
      Labels: Record<string, string>;
      Created: string;
      Layers: string[];
    };

    const head = await client.headManifest('ns/busybox', '1.0');
    expect(head?.digest).toBe(witness.Digest);
    expect(head?.mediaType).toBe(DOCKER_MANIFEST);

    const manifest = await client.getManifest('ns/busybox', '1.0');
    expect(manifest.digest).toBe(witness.Digest);
    expect(sha256(manifest.bytes)).toBe(witness.Digest);
    expect(head?.size).toBe(manifest.bytes.length);
    const raw = JSON.parse(
      (await import('./registry-fixtures.js')).skopeo([
        'inspect',
        '--tls-verify=false',
        '--raw',
        `docker://${ref}`,
      ]),
    );
    expect(manifest.json).toEqual(raw);

    const config = await client.getImageConfig('ns/busybox', manifest);
    expect(config.labels['org.arbor.test']).toBe('wire');
    expect(config.labels).toEqual(witness.Labels);
    expect(new Date(config.created ?? '').getTime()).toBe(new Date(witness.Created).getTime());
    expect(config.os).toBe('linux');

    const byDigest = await client.getManifest('ns/busybox', witness.Digest);
    expect(byDigest.bytes.equals(manifest.bytes)).toBe(true);
    // Every request says who is asking (the registry's access log records the User-Agent).
    const ours = (await registry.log())
      .split('\n')
      .filter((l) => l.includes('"GET /v2/ns/busybox/manifests/'));
    expect(USER_AGENT).toMatch(/^arbor\/\d+\.\d+\.\d+/);
    // Our GET by tag and GET by digest, next to docker's and skopeo's own requests.
    expect(ours.filter((l) => l.endsWith(`"${USER_AGENT}"`)).length).toBeGreaterThanOrEqual(2);
  });
});

describe('images pushed by the client itself', () => {
  it('uploads blobs (small and chunked) that skopeo then reads back with the same digests', async () => {
    const chunked = createRegistryClient({ registry: registry.host, insecure: true, chunkSize: 64 * 1024 });
    try {
      const image = await pushImage(chunked, 'ns/made', 'v1', {
        layerSizes: [100, 300 * 1024],
        labels: { 'org.arbor.fingerprint': 'sha256:abc' },
      });
      const witness = skopeoInspect(`${registry.host}/ns/made:v1`) as {
        Digest: string;
        Layers: string[];
        Labels: Record<string, string>;
      };
      expect(witness.Digest).toBe(image.digest);
      expect(witness.Layers).toEqual(image.layers.map((l) => l.digest));
      expect(witness.Labels).toEqual({ 'org.arbor.fingerprint': 'sha256:abc' });
      const total = image.config.bytes.length + image.layers.reduce((n, l) => n + l.bytes.length, 0);
      expect(chunked.bytesUploaded).toBe(total);
      // The big layer went in 64 KiB PATCH chunks: 300 KiB → 5 chunks.
      const log = await registry.log();
      const patches = log.split('\n').filter((l) => l.includes('"PATCH /v2/ns/made/blobs/uploads/')).length;
      expect(patches).toBe(5);
      for (const layer of image.layers)
        expect(await chunked.headBlob('ns/made', layer.digest)).toEqual({ size: layer.bytes.length });
      expect(await chunked.headBlob('ns/made', sha256(Buffer.from('absent')))).toBeNull();
    } finally {
      await chunked.close();
    }
  });

  it('reads an OCI index, its platforms and the default child config', async () => {
    const pushed = await pushIndex(client, 'ns/multi', 'v1');
    const raw = JSON.parse(
      (await import('./registry-fixtures.js')).skopeo([
        'inspect',
        '--tls-verify=false',
        '--raw',
        `docker://${registry.host}/ns/multi:v1`,
      ]),
    );
    const manifest = await client.getManifest('ns/multi', 'v1');
    expect(manifest.mediaType).toBe(OCI_INDEX);
    expect(manifest.digest).toBe(pushed.digest);
    expect(manifest.json).toEqual(raw);
    const config = await client.getImageConfig('ns/multi', manifest);
    expect(config.platforms?.map((p) => [p.platform?.architecture, p.digest])).toEqual([
      ['amd64', pushed.children[0]?.digest],
      ['arm64', pushed.children[1]?.digest],
    ]);
    expect(config.architecture).toBe('amd64');
    expect(config.labels).toEqual({ arch: 'amd64' });
    const head = await client.headManifest('ns/multi', 'v1');
    expect(head).toEqual({ digest: pushed.digest, mediaType: OCI_INDEX, size: pushed.index.length });
  });

  it('a HEAD expecting a digest (If-None-Match) is confirmed with 304, and answered in full otherwise', async () => {
    const pushed = await pushImage(client, 'ns/expected', 'v1');
    const other = await pushImage(client, 'ns/expected', 'v2');
    const release = { digest: pushed.digest, mediaType: OCI_MANIFEST, size: pushed.manifest.length };
    const mark = (await registry.log()).length;
    expect(await client.headManifest('ns/expected', 'v1', release)).toEqual(release);
    // The tag names another manifest: the registry's answer, not the expectation.
    expect(await client.headManifest('ns/expected', 'v2', release)).toEqual({
      digest: other.digest,
      mediaType: OCI_MANIFEST,
      size: other.manifest.length,
    });
    expect(await client.headManifest('ns/expected', 'v3', release)).toBeNull();
    const statuses = (await registry.log())
      .slice(mark)
      .split('\n')
      .filter((line) => line.includes('"HEAD /v2/ns/expected/manifests/'))
      .map((line) => /HTTP\/1\.1" (\d{3}) /.exec(line)?.[1]);
    expect(statuses).toEqual(['304', '200', '404']);
  });

  it('a 304 naming another digest (a caching proxy in between) is asked again without the condition', async () => {
    // What distribution never does, from a local server speaking the wire format: a 304 whose
    // ETag is not the digest asked about.
    const actual = `sha256:${'b'.repeat(64)}`;
    const seen: Array<string | undefined> = [];
    const server = createServer((req, res) => {
      seen.push(req.headers['if-none-match']);
      if (req.headers['if-none-match']) res.writeHead(304, { etag: `"${actual}"` }).end();
      else
        res
          .writeHead(200, {
            'docker-content-digest': actual,
            'content-type': OCI_MANIFEST,
            'content-length': '321',
          })
          .end();
    }).listen(0, '127.0.0.1');
    await once(server, 'listening');
    const proxy = createRegistryClient({
      registry: `127.0.0.1:${(server.address() as AddressInfo).port}`,
      insecure: true,
    });
    try {
      const expected = { digest: `sha256:${'a'.repeat(64)}`, mediaType: OCI_MANIFEST, size: 100 };
      expect(await proxy.headManifest('ns/x', 'v1', expected)).toEqual({
        digest: actual,
        mediaType: OCI_MANIFEST,
        size: 321,
      });
      expect(seen).toEqual([`"${expected.digest}"`, undefined]);
    } finally {
      await proxy.close();
      server.close();
    }
  });

  it('HEAD of an unknown tag is null; GET names the reference and the status', async () => {
    await pushImage(client, 'ns/known', 'v1');
    expect(await client.headManifest('ns/known', 'nope')).toBeNull();
    const error = await client.getManifest('ns/known', 'nope').catch((e) => e);
    expect(error).toBeInstanceOf(RegistryError);
    expect(error.message).toBe(`${registry.host}/ns/known:nope: manifest unknown (404)`);
    const unknownRepo = await client.listTags('ns/never-pushed').catch((e) => e);
    expect(unknownRepo.message).toBe(
      `${registry.host}/ns/never-pushed: repository name not known to registry (404)`,
    );
  });
});

describe('tags', () => {
  it('lists 260 tags: whole from distribution 2.8, across pages of n=50 from a paginating registry', async () => {
    const image = await pushImage(client, 'ns/many', 'seed');
    const tags = Array.from({ length: 260 }, (_, i) => `t${String(i).padStart(3, '0')}`);
    const before = client.bytesUploaded;
    for (const tag of tags) await client.tagManifest('ns/many', image.digest, tag);
    expect(client.bytesUploaded).toBe(before);
    const witness = skopeoTags(`${registry.host}/ns/many`).sort();
    expect(witness).toHaveLength(261);

    // distribution 2.8 ignores `n` and answers the whole list: one request, nothing twice.
    const requestsBefore = client.stats.requests;
    const direct = await client.listTags('ns/many', { pageSize: 50 });
    expect(client.stats.requests - requestsBefore).toBe(1);
    expect([...direct].sort()).toEqual(witness);
    expect([...(await client.listTags('ns/many'))].sort()).toEqual(witness);

    // The OCI pagination of newer registries, served by the proxy over the same registry.
    const proxy = await startFaultProxy(registry.port);
    const viaProxy = createRegistryClient({ registry: proxy.host, insecure: true });
    try {
      proxy.paginateTags('link');
      expect(await viaProxy.listTags('ns/many', { pageSize: 50 })).toEqual(witness);
      const linked = proxy.requests.filter((r) => r.url.startsWith('/v2/ns/many/tags/list'));
      expect(linked.map((r) => new URL(r.url, 'http://x').searchParams.get('last'))).toEqual([
        null,
        't048',
        't098',
        't148',
        't198',
        't248',
      ]);
      proxy.requests.length = 0;
      proxy.paginateTags('no-link');
      expect(await viaProxy.listTags('ns/many', { pageSize: 50 })).toEqual(witness);
      expect(proxy.requests.filter((r) => r.url.startsWith('/v2/ns/many/tags/list'))).toHaveLength(6);
      // Exactly n tags left on the last page: one more (empty) page ends the list.
      proxy.requests.length = 0;
      expect(await viaProxy.listTags('ns/many', { pageSize: 261 })).toEqual(witness);
      expect(proxy.requests).toHaveLength(2);
    } finally {
      await viaProxy.close();
      await proxy.stop();
    }
  });

  it('a retag moves zero blob bytes: no upload request in the registry log', async () => {
    const image = await pushImage(client, 'ns/retag', 'build-1', { layerSizes: [50_000] });
    const uploadsBefore = blobUploads(await registry.log(), 'ns/retag');
    const bytesBefore = client.bytesUploaded;
    const digest = await client.tagManifest('ns/retag', 'build-1', 'release');
    expect(digest).toBe(image.digest);
    expect((await client.headManifest('ns/retag', 'release'))?.digest).toBe(image.digest);
    expect(blobUploads(await registry.log(), 'ns/retag')).toBe(uploadsBefore);
    expect(uploadsBefore).toBeGreaterThan(0);
    expect(client.bytesUploaded).toBe(bytesBefore);
    expect(skopeoTags(`${registry.host}/ns/retag`).sort()).toEqual(['build-1', 'release']);
  });
});

describe('cross-repository mount', () => {
  it('mounts a blob another repository holds (201), and answers 202 with a session for one it lacks', async () => {
    const image = await pushImage(client, 'ns/mount-src', 'v1', { layerSizes: [4096] });
    const layer = image.layers[0]!;
    const mounted = await client.mountBlob('ns/mount-dst', layer.digest, 'ns/mount-src');
    expect(mounted).toEqual({ mounted: true });
    expect(await client.headBlob('ns/mount-dst', layer.digest)).toEqual({ size: 4096 });

    const fresh = Buffer.from('a blob nobody has');
    const declined = await client.mountBlob('ns/mount-dst', sha256(fresh), 'ns/mount-src');
    expect(declined.mounted).toBe(false);
    if (declined.mounted) return;
    // The session the registry opened instead takes the upload.
    await client.uploadBlob('ns/mount-dst', sha256(fresh), fresh, fresh.length, {
      session: declined.session,
    });
    expect(await client.headBlob('ns/mount-dst', sha256(fresh))).toEqual({ size: fresh.length });
  });
});

describe('referrers', () => {
  it('falls back to the sha256-<hex> tag on a registry without the referrers API', async () => {
    const subject = await pushImage(client, 'ns/signed', 'v1');
    expect(await client.referrers('ns/signed', subject.digest)).toEqual({ manifests: [], source: 'none' });
    const signature = await pushImage(client, 'ns/signed', 'sig');
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [
          {
            mediaType: OCI_MANIFEST,
            digest: signature.digest,
            size: signature.manifest.length,
            artifactType: 'application/vnd.dev.cosign.simplesigning.v1+json',
          },
        ],
      }),
    );
    await client.putManifest('ns/signed', subject.digest.replace(':', '-'), index, OCI_INDEX);
    const found = await client.referrers('ns/signed', subject.digest);
    expect(found.source).toBe('tag-schema');
    expect(found.manifests.map((m) => m.digest)).toEqual([signature.digest]);
    const filtered = await client.referrers('ns/signed', subject.digest, {
      artifactType: 'application/spdx+json',
    });
    expect(filtered.manifests).toEqual([]);
  });
});

function blobUploads(log: string, repository: string): number {
  return log
    .split('\n')
    .filter((l) => new RegExp(`"(POST|PATCH|PUT) /v2/${repository}/blobs/uploads/`).test(l)).length;
}
