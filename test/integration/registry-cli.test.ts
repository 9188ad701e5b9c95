// `arbor ls` and `arbor inspect` end to end: the built CLI as a child process against a real
// registry, checked against skopeo; bad references and unreachable registries → one line, exit 1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { arbor } from '../support/cli.js';
import { requireEngine } from '../support/engine.js';
import { destroyRegistry, freePort, startRegistry, type TestRegistry } from '../support/registry.js';
import { buildAndPushBusybox, pushIndex, skopeo, skopeoInspect, skopeoTags } from './registry-fixtures.js';

let registry: TestRegistry;
let client: RegistryClient;

beforeAll(async () => {
  registry = await startRegistry();
  client = createRegistryClient({ registry: registry.host, insecure: true });
  requireEngine();
  buildAndPushBusybox(`${registry.host}/tools/busybox:1.36`, 'cli');
  await client.tagManifest('tools/busybox', '1.36', 'latest');
  await pushIndex(client, 'tools/multi', '2.0');
});

afterAll(async () => {
  await client?.close();
  if (registry) await destroyRegistry(registry);
});

interface LsJson {
  repository: string;
  tags: { tag: string; digest: string; mediaType: string; created?: string; size: number }[];
}

describe('arbor ls', () => {
  it('--format json: every tag with the digest skopeo reports, creation time and size', () => {
    const result = arbor(['ls', `${registry.host}/tools/busybox`, '--insecure', '--format', 'json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const listing = JSON.parse(result.stdout) as LsJson;
    expect(listing.repository).toBe(`${registry.host}/tools/busybox`);
    expect(listing.tags.map((t) => t.tag)).toEqual(skopeoTags(`${registry.host}/tools/busybox`).sort());
    const witness = skopeoInspect(`${registry.host}/tools/busybox:1.36`) as {
      Digest: string;
      Created: string;
    };
    const rawText = skopeo([
      'inspect',
      '--tls-verify=false',
      '--raw',
      `docker://${registry.host}/tools/busybox:1.36`,
    ]);
    const raw = JSON.parse(rawText) as { config: { size: number }; layers: { size: number }[] };
    for (const row of listing.tags) {
      expect(row.digest).toBe(witness.Digest);
      expect(new Date(row.created ?? '').getTime()).toBe(new Date(witness.Created).getTime());
      // Manifest + config + layers.
      const blobs = raw.config.size + raw.layers.reduce((n, l) => n + l.size, 0);
      expect(row.size).toBe(Buffer.byteLength(rawText) + blobs);
    }
  });

  it('text: a table with one row per tag', () => {
    const result = arbor(['ls', `${registry.host}/tools/busybox`, '--insecure']);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TAG\s+DIGEST\s+CREATED\s+SIZE$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0])).toEqual(['1.36', 'latest']);
    expect(lines[1]).toMatch(/sha256:[0-9a-f]{64}\s+\d{4}-\d\d-\d\dT\S+\s+\d+\.\d (KiB|MiB)$/);
  });

  it('an unknown repository is one line naming it, exit 1', () => {
    const result = arbor(['ls', `${registry.host}/tools/nothing`, '--insecure']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `error: ${registry.host}/tools/nothing: repository name not known to registry (404)\n`,
    );
  });
});

describe('arbor inspect', () => {
  it('--format json: digest, media type, labels, created and layers equal skopeo', () => {
    const ref = `${registry.host}/tools/busybox:1.36`;
    const result = arbor(['inspect', ref, '--insecure', '--format', 'json']);
    expect(result.code).toBe(0);
    const shown = JSON.parse(result.stdout);
    const witness = skopeoInspect(ref) as {
      Digest: string;
      Labels: Record<string, string>;
      Layers: string[];
      Created: string;
    };
    const raw = skopeoInspect(ref, '--raw') as { layers: { size: number }[] };
    expect(shown.reference).toBe(ref);
    expect(shown.digest).toBe(witness.Digest);
    expect(shown.mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(shown.labels).toEqual(witness.Labels);
    expect(shown.layers.map((l: { digest: string }) => l.digest)).toEqual(witness.Layers);
    expect(shown.layers.map((l: { size: number }) => l.size)).toEqual(raw.layers.map((l) => l.size));
    expect(new Date(shown.created).getTime()).toBe(new Date(witness.Created).getTime());
  });

  it('an index: its platforms with digests, and the linux/amd64 child shown', () => {
    const ref = `${registry.host}/tools/multi:2.0`;
    const result = arbor(['inspect', ref, '--insecure']);
    expect(result.code).toBe(0);
    const raw = skopeoInspect(ref, '--raw') as {
      manifests: { digest: string; platform: { architecture: string } }[];
    };
    expect(result.stdout).toContain('Media type: application/vnd.oci.image.index.v1+json');
    for (const child of raw.manifests)
      expect(result.stdout).toMatch(new RegExp(`linux/${child.platform.architecture}\\s+${child.digest}`));
    expect(result.stdout).toContain('Shown:      linux/amd64');
    expect(result.stdout).toContain('  arch=amd64');
  });

  it('by digest', () => {
    const digest = (skopeoInspect(`${registry.host}/tools/busybox:latest`) as { Digest: string }).Digest;
    const result = arbor([
      'inspect',
      `${registry.host}/tools/busybox@${digest}`,
      '--insecure',
      '--format',
      'json',
    ]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).digest).toBe(digest);
  });

  it.each([
    ['UPPER/Case:tag', 'error: invalid reference "UPPER/Case:tag": repository name must be lowercase'],
    ['127.0.0.1:5000/x:', 'error: invalid reference "127.0.0.1:5000/x:": tag is empty'],
    [
      '127.0.0.1:5000/x@sha256:abc',
      'error: invalid reference "127.0.0.1:5000/x@sha256:abc": digest must look like sha256:<64 hex digits>',
    ],
  ])('a malformed reference %s: one line, exit 1', (ref, line) => {
    const result = arbor(['inspect', ref, '--insecure']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`${line}\n`);
  });

  it('an unknown tag, a TLS client against a plain-HTTP registry, an unreachable registry: one line each', async () => {
    const unknown = arbor(['inspect', `${registry.host}/tools/busybox:nope`, '--insecure']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toBe(`error: ${registry.host}/tools/busybox:nope: manifest unknown (404)\n`);

    const tls = arbor(['inspect', `${registry.host}/tools/busybox:1.36`]);
    expect(tls.code).toBe(1);
    expect(tls.stderr).toBe(
      `error: ${registry.host}/tools/busybox:1.36: TLS handshake failed (plain HTTP registry? use insecure: true or --insecure) during GET ${registry.host}/v2/tools/busybox/manifests/1.36\n`,
    );

    const port = await freePort();
    const down = arbor(['inspect', `127.0.0.1:${port}/tools/busybox:1.36`, '--insecure']);
    expect(down.code).toBe(1);
    expect(down.stderr).toBe(
      `error: 127.0.0.1:${port}/tools/busybox:1.36: registry unreachable (ECONNREFUSED 127.0.0.1:${port}) during GET 127.0.0.1:${port}/v2/tools/busybox/manifests/1.36\n`,
    );
  });

  it('--debug shows the HTTP exchanges; a failure then carries its stack', () => {
    const ok = arbor(['--debug', 'inspect', `${registry.host}/tools/busybox:1.36`, '--insecure']);
    expect(ok.code).toBe(0);
    expect(ok.stderr).toMatch(
      new RegExp(`GET http://${registry.host}/v2/tools/busybox/manifests/1.36 → 200 \\(\\d+ ms\\)`),
    );
    const bad = arbor(['--debug', 'inspect', `${registry.host}/tools/busybox:nope`, '--insecure']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('RegistryError');
  });
});
