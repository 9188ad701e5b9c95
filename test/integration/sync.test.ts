// arbor sync between a central registry (token auth, 5-second tokens) and a site registry, the
// link between them a fault proxy that cuts answers in the middle of their bodies. Release 2 of
// two images differs from release 1 by a few files of a 3 MB root filesystem; its layer deltas are
// published at the centre as apply publishes them. The site, holding release 1, gets release 2
// through the deltas: digests identical, the layers rebuilt locally, a fraction of the bytes, and
// no more than 1.1 × a clean transfer's bytes despite the cuts.

import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishDeltas } from '../../src/delta/publish.js';
import { attachArtifact } from '../../src/registry/attach.js';
import { createAuthenticator } from '../../src/registry/auth/index.js';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { unlessNotFound } from '../../src/registry/errors.js';
import { RELEASE_FORMAT_VERSION, type ReleaseImage } from '../../src/release/record.js';
import { releasesRepository, writeRecord } from '../../src/release/store.js';
import { BIN } from '../support/cli.js';
import { dockerConfigFor } from '../support/docker-config.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { createCa, issueCertificate } from '../support/tls.js';
import { everything, startTokenServer, type TokenServer } from '../support/token-server.js';
import { layerOf, pushLayeredImage, rootfsFiles, tarOf, updatedFiles } from './delta-fixtures.js';

const USER = 'central';
const PASSWORD = 'central-Pa55word-sync';
const IMAGES = ['app', 'tools'];

let tokens: TokenServer;
let central: TestRegistry;
let proxy: FaultProxy;
let centralClient: RegistryClient;
let dockerConfig: string;
const sites: TestRegistry[] = [];

async function sync(site: TestRegistry, args: string[] = []) {
  const result = await execa(
    process.execPath,
    [BIN, 'sync', `${proxy.host}/ns`, `${site.host}/ns`, '--insecure', '--auto-approve', ...args],
    { env: { NO_COLOR: '1', DOCKER_CONFIG: dockerConfig }, reject: false },
  );
  return { code: result.exitCode ?? 1, stdout: result.stdout, stderr: result.stderr };
}

async function newSite(): Promise<{ site: TestRegistry; client: RegistryClient }> {
  const site = await startRegistry();
  sites.push(site);
  return { site, client: createRegistryClient({ registry: site.host, insecure: true }) };
}

beforeAll(async () => {
  const ca = createCa();
  tokens = await startTokenServer({
    signing: issueCertificate(ca, 'token-signer'),
    users: { [USER]: { password: PASSWORD, rights: everything, catalog: true } },
    expiresIn: 5,
  });
  central = await startRegistry({ extraConfig: tokens.registryAuthConfig(ca) });
  proxy = await startFaultProxy(central.port);
  dockerConfig = await dockerConfigFor(proxy.host, USER, PASSWORD);
  centralClient = createRegistryClient({
    registry: central.host,
    insecure: true,
    authenticator: createAuthenticator({
      credentials: { [central.host]: { username: USER, password: PASSWORD } },
    }),
  });
  // Two releases of two images; release 2 changes 3 files of each image's 3 MB root filesystem.
  const one = rootfsFiles(48, 64 * 1024, 1);
  const two = updatedFiles(one, 3);
  for (const [round, files] of [
    [1, one],
    [2, two],
  ] as const) {
    const images: ReleaseImage[] = [];
    for (const [i, name] of IMAGES.entries()) {
      const rootfs = await layerOf(await tarOf(files));
      const own = await layerOf(
        await tarOf({ [`etc/${name}.conf`]: Buffer.from(`${name} ${round} ${i}\n`) }),
      );
      const pushed = await pushLayeredImage(centralClient, `ns/${name}`, `r${round}`, [
        { layer: rootfs, command: 'ADD rootfs.tar /' },
        { layer: own, command: `COPY ${name}.conf /etc/` },
      ]);
      await centralClient.putManifest(
        `ns/${name}`,
        '2025.1',
        pushed.manifest,
        'application/vnd.oci.image.manifest.v1+json',
      );
      images.push({
        name,
        repository: `ns/${name}`,
        digest: pushed.digest,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        size: pushed.manifest.length,
        fingerprint: `sha256:${String(round).repeat(64)}`,
        fingerprintTag: `fp-${round}`,
        tags: ['2025.1', `r${round}`],
      });
    }
    await writeRecord(centralClient, releasesRepository('ns', 'arbor-releases'), {
      formatVersion: RELEASE_FORMAT_VERSION,
      release: `r${round}`,
      created: new Date(Date.now() + round).toISOString(),
      registry: central.host,
      namespace: 'ns',
      configDigest: 'sha256:test',
      images,
    });
  }
  // The deltas of release 2 against release 1, published at the centre as apply does.
  for (const name of IMAGES) {
    const [newer, older] = await Promise.all([
      centralClient.getManifest(`ns/${name}`, 'r2'),
      centralClient.getManifest(`ns/${name}`, 'r1'),
    ]);
    const results = await publishDeltas(centralClient, `ns/${name}`, newer, [{ manifest: older }]);
    expect(
      results.some((r) => r.outcome === 'published' || r.outcome === 'shared' || r.outcome === 'reused'),
    ).toBe(true);
  }
});

afterAll(async () => {
  await centralClient?.close();
  await proxy?.stop();
  await tokens?.close();
  for (const r of [central, ...sites]) if (r) await destroyRegistry(r);
  if (dockerConfig) await rm(dockerConfig, { recursive: true, force: true });
});

describe('arbor sync', () => {
  it('brings release 2 through deltas: digests identical, a fraction of the bytes, and survives cuts and expiring tokens', async () => {
    // A clean site first, for the byte count of a clean transfer of release 2 over release 1.
    const clean = await newSite();
    expect((await sync(clean.site, ['--release', 'r1'])).code).toBe(0);
    const cleanStart = proxy.bytesToClient;
    const cleanRun = await sync(clean.site, ['--release', 'r2']);
    expect(cleanRun.code, `${cleanRun.stdout}\n${cleanRun.stderr}`).toBe(0);
    const cleanBytes = proxy.bytesToClient - cleanStart;
    // Both images share the root filesystem layer: one delta, rebuilt once, mounted into the other.
    expect(cleanRun.stdout).toMatch(/blobs: \d+ at the site, 1 from deltas, /);
    expect(cleanRun.stdout).toMatch(/Sync: .* 1 rebuilt from deltas, 1 mounted/);

    // The whole layers would have cost far more than the deltas did.
    const rootfs = (await centralClient.getManifest('ns/app', 'r2')).json as { layers: { size: number }[] };
    expect(cleanBytes).toBeLessThan(rootfs.layers[0]!.size / 2);

    // Through a link that breaks every 200 KB, answers a tenth of the requests 503, and tokens that
    // live 5 seconds: the whole release 1 (the bulk of the bytes) onto a new site, then release 2.
    const rough = await newSite();
    const firstStart = proxy.bytesToClient;
    const cleanFirst = await sync((await newSite()).site, ['--release', 'r1']);
    expect(cleanFirst.code).toBe(0);
    const cleanFirstBytes = proxy.bytesToClient - firstStart;
    proxy.chaos({ seed: 3, cutEveryBytes: 200 * 1024, failRate: 0.1, statuses: [503], retryAfter: '0' });
    const start = proxy.bytesToClient;
    const first = await sync(rough.site, ['--release', 'r1']);
    const firstBytes = proxy.bytesToClient - start;
    const run = await sync(rough.site, ['--release', 'r2']);
    proxy.chaos(null);
    expect(first.code, `${first.stdout}\n${first.stderr}`).toBe(0);
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    expect(proxy.injected.cut).toBeGreaterThan(1);
    // Cut downloads continue where they broke: the bytes read stay within 1.1 × a clean transfer.
    expect(firstBytes).toBeLessThanOrEqual(1.1 * cleanFirstBytes);
    expect(run.stdout).toMatch(/1 rebuilt from deltas/);
    for (const name of IMAGES)
      for (const tag of ['2025.1', 'r2'])
        expect((await rough.client.headManifest(`ns/${name}`, tag))?.digest).toBe(
          (await centralClient.headManifest(`ns/${name}`, tag))?.digest,
        );
    // Release 2 is recorded at the site, and a second sync has nothing to do.
    const again = await sync(rough.site, ['--release', 'r2']);
    expect(again.stdout).toContain('0 to copy, 0 to tag, 2 unchanged');
    await Promise.all([clean.client.close(), rough.client.close()]);
  });

  it('carries the artifacts that refer to an image (not its layer deltas); --require-signature refuses unsigned images', async () => {
    const head = (await centralClient.headManifest('ns/app', 'r2'))!;
    const note = await attachArtifact(centralClient, 'ns/app', {
      artifactType: 'application/spdx+json',
      subject: { mediaType: head.mediaType, digest: head.digest, size: head.size },
      blobs: [{ mediaType: 'application/spdx+json', bytes: Buffer.from('{"spdxVersion":"SPDX-2.3"}') }],
    });
    const { site, client } = await newSite();
    const keyDir = await mkdtemp(join(tmpdir(), 'arbor-sync-key-'));
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(join(keyDir, 'pub.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    const mark = (await site.log()).length;
    const refused = await sync(site, [
      '--release',
      'r2',
      '--require-signature',
      '--sigstore-key',
      join(keyDir, 'pub.pem'),
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('sync refused: not every image is validly signed; nothing moved');
    expect((await site.log()).slice(mark)).not.toMatch(/"(PUT|POST|PATCH) /);
    await rm(keyDir, { recursive: true, force: true });

    const synced = await sync(site, ['--release', 'r2']);
    expect(synced.code, synced.stderr).toBe(0);
    const listed = await client.referrers('ns/app', head.digest);
    expect(listed.manifests.map((d) => d.digest)).toEqual([note.digest]);
    await client.close();
  });

  it('without deltas (or without the base at the site) layers come whole, said why', async () => {
    const { site, client } = await newSite();
    const plan = await sync(site, ['--release', 'r2', '--plan-only', '--detailed-exitcode']);
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain('whole: no delta base is at the target');
    const whole = await sync(site, ['--release', 'r1', '--no-deltas']);
    expect(whole.code).toBe(0);
    const r2 = await sync(site, ['--release', 'r2', '--no-deltas']);
    expect(r2.stdout).toContain('0 from deltas');
    expect((await client.headManifest('ns/app', 'r2'))?.digest).toBe(
      (await centralClient.headManifest('ns/app', 'r2'))?.digest,
    );
    await client.close();
  });

  it('a layer the site holds in another repository is mounted from there, never fetched again (as the plan said)', async () => {
    const { site, client } = await newSite();
    // The site holds app's layers but not its manifest (removed by hand); tools shares app's root
    // filesystem layer. Both are copied: tools' rootfs is found in ns/app, where app's HEADs saw it.
    expect((await sync(site, ['--release', 'r1', '--only', 'app'])).code).toBe(0);
    const app = await client.headManifest('ns/app', 'r1');
    await client.deleteManifest('ns/app', app!.digest);
    const plan = await sync(site, ['--release', 'r1', '--plan-only', '--format', 'json']);
    const planned = JSON.parse(plan.stdout) as { summary: { bytesFromSource: number } };
    const before = proxy.requests.length;
    const full = await sync(site, ['--release', 'r1', '--format', 'json']);
    expect(full.code, full.stderr).toBe(0);
    // stdout is the plan alone (what the sync did is on stderr).
    expect(JSON.parse(full.stdout)).toMatchObject({ release: 'r1' });
    expect(full.stderr).toMatch(/Sync: 2 blob\(s\) uploaded .*, 1 mounted, 3 already there;/);
    const blobGets = proxy.requests
      .slice(before)
      .filter((r) => r.method === 'GET' && /^\/v2\/ns\/(app|tools)\/blobs\//.test(r.url));
    // The rootfs layer (3 MB) is not read from the centre: only tools' config and own small layer.
    expect(blobGets).toHaveLength(2);
    expect(planned.summary.bytesFromSource).toBeLessThan(64 * 1024);
    expect((await client.headManifest('ns/tools', 'r1'))?.digest).toBe(
      (await centralClient.headManifest('ns/tools', 'r1'))?.digest,
    );
    await client.close();
  });

  it('a tag moved at the site is put back, with no HEAD of a manifest another tag already names', async () => {
    const { site, client } = await newSite();
    expect((await sync(site, ['--release', 'r1', '--no-deltas'])).code).toBe(0);
    expect((await sync(site, ['--release', 'r2', '--no-deltas'])).code).toBe(0);
    // Someone moves 2025.1 back to release 1 at the site; r2 still names release 2.
    const older = await client.getManifest('ns/app', 'r1');
    await client.putManifest('ns/app', '2025.1', older.bytes, older.mediaType);
    const mark = (await site.log()).length;
    const again = await sync(site, ['--release', 'r2']);
    expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
    expect((await client.headManifest('ns/app', '2025.1'))?.digest).toBe(
      (await centralClient.headManifest('ns/app', 'r2'))?.digest,
    );
    const requests = (await site.log()).slice(mark).split('\n');
    expect(requests.filter((line) => /"PUT \/v2\/ns\/app\/manifests\/2025\.1 /.test(line))).toHaveLength(1);
    expect(requests.filter((line) => /"HEAD \/v2\/ns\/[^/]+\/manifests\/sha256:/.test(line))).toEqual([]);
    await client.close();
  });

  it('a release record the site refused after the tag burst is written by the next sync (its plan shows it)', async () => {
    const { site, client } = await newSite();
    const front = await startFaultProxy(site.port);
    try {
      const run = (...args: string[]) =>
        execa(
          process.execPath,
          [
            BIN,
            'sync',
            `${proxy.host}/ns`,
            `${front.host}/ns`,
            '--insecure',
            '--auto-approve',
            '--release',
            'r1',
            ...args,
          ],
          { env: { NO_COLOR: '1', DOCKER_CONFIG: dockerConfig }, reject: false },
        );
      front.failNext(1, 400, {
        match: (method, url) => method === 'PUT' && url.startsWith('/v2/ns/arbor-releases/manifests/'),
        body: '{"errors":[{"code":"MANIFEST_INVALID","message":"injected"}]}',
      });
      const cut = await run('--no-deltas');
      expect(cut.exitCode, `${cut.stdout}\n${cut.stderr}`).toBe(1);
      expect((await client.headManifest('ns/app', 'r1'))?.digest).toBe(
        (await centralClient.headManifest('ns/app', 'r1'))?.digest,
      );
      const planned = await run('--plan-only', '--detailed-exitcode', '--format', 'json');
      expect(planned.exitCode, planned.stderr).toBe(2);
      const plan = JSON.parse(planned.stdout);
      expect(plan.summary).toMatchObject({ copy: 0, tag: 0 });
      expect(plan.record).toBe('missing');
      const finished = await run();
      expect(finished.exitCode, `${finished.stdout}\n${finished.stderr}`).toBe(0);
      expect(await client.headManifest('ns/arbor-releases', 'r1')).not.toBeNull();
      expect((await run('--plan-only', '--detailed-exitcode')).exitCode).toBe(0);
      // A site refusing the record's HEAD (no rights on its repository) leaves the question
      // unasked, as `plan` does: the images' plan still stands.
      front.failNext(1, 403, {
        match: (method, url) => method === 'HEAD' && url.startsWith('/v2/ns/arbor-releases/manifests/'),
        body: '{"errors":[{"code":"DENIED","message":"injected"}]}',
      });
      const refused = await run('--plan-only', '--detailed-exitcode', '--format', 'json');
      expect(refused.exitCode, refused.stderr).toBe(0);
      expect(JSON.parse(refused.stdout).record).toBeUndefined();
    } finally {
      await front.stop();
      await client.close();
    }
  });

  it('--tag T brings every repository with that tag, and writes no release record at the site', async () => {
    const { site, client } = await newSite();
    const result = await sync(site, ['--tag', 'r1', '--no-deltas']);
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    for (const name of IMAGES)
      expect((await client.headManifest(`ns/${name}`, 'r1'))?.digest).toBe(
        (await centralClient.headManifest(`ns/${name}`, 'r1'))?.digest,
      );
    // Only the tag moved: the release's other tag (2025.1) stays where it was (nowhere).
    expect(await client.headManifest('ns/app', '2025.1')).toBeNull();
    expect(await unlessNotFound(client.listTags('ns/arbor-releases'), [] as string[])).toEqual([]);
    await client.close();
  });

  it('a tag whose link a crash left empty at the site (it answers 500 for it) is written again', async () => {
    const { site, client } = await newSite();
    expect((await sync(site, ['--release', 'r1', '--no-deltas'])).code).toBe(0);
    // The site's registry killed in the middle of that tag's PUT leaves its link empty.
    const link = join(
      site.storageDir,
      'docker/registry/v2/repositories/ns/app/_manifests/tags/2025.1/current/link',
    );
    await writeFile(link, '');
    const again = await sync(site, ['--release', 'r1']);
    expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
    expect(again.stdout).toContain('tag 2025.1 is unreadable at the site (it answered 500): written again');
    expect((await client.headManifest('ns/app', '2025.1'))?.digest).toBe(
      (await centralClient.headManifest('ns/app', 'r1'))?.digest,
    );
    await client.close();
  });
});
