// Registry authentication end to end: the real CNCF registry configured with htpasswd (Basic) or
// with `auth.token` trusting a token server on loopback that issues real signed JWTs, driven
// through arbor's registry client and authenticator.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createAuthenticator } from '../../src/registry/auth/index.js';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST } from '../../src/registry/media-types.js';
import { clearSecrets } from '../../src/secrets.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { htpasswdAuthConfig, writeHtpasswd } from '../support/htpasswd.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { createCa, issueCertificate, type TestCa } from '../support/tls.js';
import { everything, pullOnly, startTokenServer, type TokenServer } from '../support/token-server.js';

const ALICE = { username: 'alice', password: 'alice-Pa55word-7f3c' };
const BOB = { username: 'bob', password: 'bob-Pa55word-91ae' };

function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Pushes a one-layer OCI image made of fresh random bytes; returns the manifest digest. */
async function pushImage(client: RegistryClient, repository: string, tag: string): Promise<string> {
  const layer = randomBytes(2048);
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers' } }),
  );
  await client.uploadBlob(repository, sha256(layer), layer, layer.length);
  await client.uploadBlob(repository, sha256(config), config, config.length);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
      layers: [{ mediaType: OCI_LAYER_GZIP, digest: sha256(layer), size: layer.length }],
    }),
  );
  await client.putManifest(repository, tag, manifest, OCI_MANIFEST);
  return sha256(manifest);
}

function client(
  registry: TestRegistry,
  auth: ReturnType<typeof createAuthenticator>,
  debug?: (l: string) => void,
) {
  return createRegistryClient({
    registry: registry.host,
    insecure: true,
    authenticator: auth,
    backoff: { baseMs: 10, maxMs: 50 },
    ...(debug ? { debug } : {}),
  });
}

describe('token auth (registry auth.token + loopback token server issuing signed JWTs)', () => {
  let ca: TestCa;
  let tokens: TokenServer;
  let registry: TestRegistry;

  beforeAll(async () => {
    ca = createCa('arbor token CA');
    tokens = await startTokenServer({
      signing: issueCertificate(ca, 'token-signer'),
      users: {
        [ALICE.username]: { password: ALICE.password, rights: everything },
        [BOB.username]: { password: BOB.password, rights: pullOnly },
      },
      expiresIn: 60,
    });
    registry = await startRegistry({ extraConfig: tokens.registryAuthConfig(ca) });
  });

  afterAll(async () => {
    await destroyRegistry(registry);
    await tokens.close();
    clearSecrets();
  });

  test('requests pull,push for a push and pull for a read, and caches one token per scope', async () => {
    const auth = createAuthenticator({ credentials: { [registry.host]: ALICE }, insecure: true });
    const alice = client(registry, auth);
    const before = tokens.issued.length;
    const seen = tokens.requests.length;

    const digest = await pushImage(alice, 'team/app', 'v1');
    expect((await alice.headManifest('team/app', 'v1'))?.digest).toBe(digest);
    expect(await alice.listTags('team/app')).toEqual(['v1']);

    // Four writes and two reads, all on one token: pull is covered by the pull,push token.
    const asked = tokens.requests.slice(seen);
    expect(asked.map((r) => r.scopes)).toEqual([['repository:team/app:pull,push']]);
    expect(asked[0]).toMatchObject({ method: 'GET', service: tokens.service, user: 'alice', status: 200 });
    expect(tokens.issued.length - before).toBe(1);
    expect(tokens.issued.at(-1)!.access).toEqual([
      { type: 'repository', name: 'team/app', actions: ['pull', 'push'] },
    ]);

    // A reader asks only for pull; a second repository is a second scope, asked for without a
    // 401 first (the realm is known by then).
    const reader = client(
      registry,
      createAuthenticator({ credentials: { [registry.host]: BOB }, insecure: true }),
    );
    const mark = tokens.requests.length;
    expect((await reader.headManifest('team/app', 'v1'))?.digest).toBe(digest);
    expect((await reader.getManifest('team/app', 'v1')).digest).toBe(digest);
    expect(await reader.headManifest('team/other', 'v1')).toBeNull();
    expect(tokens.requests.slice(mark).map((r) => [r.user, r.scopes])).toEqual([
      ['bob', ['repository:team/app:pull']],
      ['bob', ['repository:team/other:pull']],
    ]);
    await Promise.all([alice.close(), reader.close(), auth.close()]);
  });

  test('concurrent requests after the first challenge share one token fetch', async () => {
    const auth = createAuthenticator({ credentials: { [registry.host]: ALICE }, insecure: true });
    const alice = client(registry, auth);
    await pushImage(alice, 'team/burst', 'v1');
    const before = tokens.issued.length;
    const readers = createAuthenticator({ credentials: { [registry.host]: ALICE }, insecure: true });
    const reader = client(registry, readers);
    const heads = await Promise.all(
      Array.from({ length: 12 }, () => reader.headManifest('team/burst', 'v1')),
    );
    expect(heads.every((h) => h !== null)).toBe(true);
    expect(tokens.issued.length - before).toBe(1);
    await Promise.all([alice.close(), reader.close(), auth.close(), readers.close()]);
  });

  test('a token server answering 503, then 429 with Retry-After, is asked again; one that keeps failing is one clear error', async () => {
    const auth = createAuthenticator({ credentials: { [registry.host]: ALICE }, insecure: true });
    const alice = client(registry, auth);
    const digest = await pushImage(alice, 'team/flaky', 'v1');
    const reader = client(
      registry,
      createAuthenticator({ credentials: { [registry.host]: BOB }, insecure: true }),
    );
    const mark = tokens.requests.length;
    tokens.failNext(2, 503);
    expect((await reader.headManifest('team/flaky', 'v1'))?.digest).toBe(digest);
    tokens.failNext(1, 429, '1');
    expect(await reader.headManifest('team/flaky-other', 'v1')).toBeNull();
    expect(tokens.requests.slice(mark).map((r) => r.status)).toEqual([503, 503, 200, 429, 200]);
    const stubborn = client(
      registry,
      createAuthenticator({ credentials: { [registry.host]: BOB }, insecure: true }),
    );
    tokens.failNext(100, 503);
    await expect(stubborn.headManifest('team/flaky', 'v1')).rejects.toThrow(
      `token server for ${registry.host} answered HTTP 503`,
    );
    tokens.failNext(0, 503);
    await Promise.all([alice.close(), reader.close(), stubborn.close(), auth.close()]);
  });

  test('wrong credentials: a clear error naming the registry, without the password', async () => {
    const auth = createAuthenticator({
      credentials: { [registry.host]: { username: 'alice', password: 'not-the-Pa55word' } },
      insecure: true,
    });
    const wrong = client(registry, auth);
    const error = await wrong.headManifest('team/app', 'v1').catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe(
      `error: unauthorized: wrong credentials for ${registry.host} (from the credentials given to arbor)`,
    );
    expect((error as Error).message).not.toContain('not-the-Pa55word');
    await Promise.all([wrong.close(), auth.close()]);
  });

  test('a pull-only user cannot push: the registry refuses the narrower token', async () => {
    const auth = createAuthenticator({ credentials: { [registry.host]: BOB }, insecure: true });
    const bob = client(registry, auth);
    const error = await pushImage(bob, 'team/bobs', 'v1').catch((e: Error) => e);
    expect((error as Error).message).toMatch(/unauthorized|denied/);
    expect(tokens.issued.at(-1)!.access).toEqual([
      { type: 'repository', name: 'team/bobs', actions: ['pull'] },
    ]);
    await Promise.all([bob.close(), auth.close()]);
  });

  test('a token that expires mid-operation is refreshed before it runs out (expires_in 2 s)', async () => {
    tokens.setLifetime(2);
    try {
      const auth = createAuthenticator({ credentials: { [registry.host]: ALICE }, insecure: true });
      const alice = createRegistryClient({
        registry: registry.host,
        insecure: true,
        authenticator: auth,
        chunkSize: 64 * 1024,
      });
      const before = tokens.issued.length;
      const logBefore = (await registry.log()).length;
      // A slow link: 10 chunks of 64 KiB, 350 ms apart, so the upload spans 3.5 s.
      const blob = randomBytes(10 * 64 * 1024);
      const started = Date.now();
      await alice.uploadBlob('team/slow', sha256(blob), () => slowStream(blob, 64 * 1024, 350), blob.length);
      expect(Date.now() - started).toBeGreaterThan(3000);
      expect(await alice.headBlob('team/slow', sha256(blob))).toEqual({ size: blob.length });
      const fresh = tokens.issued.slice(before);
      expect(fresh.length).toBeGreaterThanOrEqual(2);
      expect(fresh.every((t) => t.access[0]?.name === 'team/slow')).toBe(true);
      // Refreshed ahead of time: apart from the very first anonymous request, the registry never
      // had to refuse a token.
      const accessLog = await logLines(registry, logBefore, /"HEAD \/v2\/team\/slow\/blobs\/[^"]*" 200 /);
      expect(
        accessLog.filter((l) => /"PATCH \/v2\/team\/slow\/blobs\/uploads\/[^"]*" 202 /.test(l)),
      ).toHaveLength(10);
      expect(accessLog.filter((l) => l.includes('/v2/team/slow/') && / 401 \d+ /.test(l))).toHaveLength(1);
      await Promise.all([alice.close(), auth.close()]);
    } finally {
      tokens.setLifetime(60);
    }
  });

  test('a token the registry refuses mid-operation (revoked or expired early) is replaced on the 401', async () => {
    // The client is told 60 s, but the registry refuses the JWT after 1-2 s: the registry's 401 is the
    // only signal, as with a revoked token.
    tokens.setLifetime(60, 1);
    try {
      const auth = createAuthenticator({ credentials: { [registry.host]: ALICE }, insecure: true });
      const alice = client(registry, auth);
      const digest = await pushImage(alice, 'team/revoked', 'v1');
      const before = tokens.issued.length;
      await new Promise((r) => setTimeout(r, 3000));
      const logBefore = (await registry.log()).length;
      expect((await alice.headManifest('team/revoked', 'v1'))?.digest).toBe(digest);
      expect(tokens.issued.length - before).toBe(1);
      // The registry did refuse the old token once; the retry with the new one went through.
      const accessLog = await logLines(
        registry,
        logBefore,
        /"HEAD \/v2\/team\/revoked\/manifests\/v1 [^"]*" 200 /,
      );
      const heads = accessLog.join('\n').match(/"HEAD \/v2\/team\/revoked\/manifests\/v1 [^"]*" \d+ /g);
      expect(heads).toEqual([expect.stringMatching(/" 401 $/), expect.stringMatching(/" 200 $/)]);
      await Promise.all([alice.close(), auth.close()]);
    } finally {
      tokens.setLifetime(60);
    }
  });

  test('a token refused again on the retry (it expired on its way) is dropped for a fresh one, once', async () => {
    // A proxy that "expires" tokens: it answers the next HEADs 401 with the registry's own
    // challenge, as the registry does for a token that ran out while the request was queued.
    const proxy = await startFaultProxy(registry.port);
    const auth = createAuthenticator({ credentials: { [proxy.host]: ALICE }, insecure: true });
    const alice = createRegistryClient({
      registry: proxy.host,
      insecure: true,
      authenticator: auth,
      backoff: { baseMs: 10, maxMs: 50 },
    });
    try {
      const digest = await pushImage(alice, 'team/expiring', 'v1');
      const challenge = `Bearer realm="${tokens.realm}",service="${tokens.service}",scope="repository:team/expiring:pull"`;
      const heads = (method: string, url: string) =>
        method === 'HEAD' && url.includes('/team/expiring/manifests/');
      const refuse = (count: number) =>
        proxy.failNext(count, 401, { headers: { 'www-authenticate': challenge }, match: heads });

      // The cached token refused, the one its challenge gave refused too: one more fresh token works.
      let issued = tokens.issued.length;
      let mark = proxy.requests.length;
      refuse(2);
      expect((await alice.headManifest('team/expiring', 'v1'))?.digest).toBe(digest);
      expect(proxy.requests.slice(mark).map((r) => [r.status, r.injected])).toEqual([
        [401, true],
        [401, true],
        [200, false],
      ]);
      expect(tokens.issued.length - issued).toBe(2);

      // Only once: a third refusal is an error, not a loop.
      issued = tokens.issued.length;
      mark = proxy.requests.length;
      refuse(3);
      const error = await alice.headManifest('team/expiring', 'v1').catch((e: Error) => e);
      expect((error as Error).message).toMatch(/unauthorized: wrong credentials/);
      expect(proxy.requests.slice(mark)).toHaveLength(3);
      expect(tokens.issued.length - issued).toBe(2);
    } finally {
      await Promise.all([alice.close(), auth.close()]);
      await proxy.stop();
    }
  });

  test('an identity token (docker login with a token server offering refresh tokens) uses the OAuth2 POST', async () => {
    const identityToken = tokens.issueRefreshToken(ALICE.username);
    const auth = createAuthenticator({ credentials: { [registry.host]: { identityToken } }, insecure: true });
    const alice = client(registry, auth);
    const mark = tokens.requests.length;
    expect(await alice.headManifest('team/app', 'v1')).not.toBeNull();
    expect(tokens.requests.slice(mark)).toMatchObject([
      { method: 'POST', grantType: 'refresh_token', user: 'alice', scopes: ['repository:team/app:pull'] },
    ]);
    await Promise.all([alice.close(), auth.close()]);
  });

  test('nothing secret in debug output or errors, for a failing and a succeeding operation', async () => {
    const lines: string[] = [];
    const log = (line: string) => lines.push(line);
    const dir = mkdtempSync(join(tmpdir(), 'arbor-redact-'));
    const good = createAuthenticator({
      credentials: { [registry.host]: ALICE },
      insecure: true,
      debug: log,
      dockerConfigDir: dir,
    });
    const ok = client(registry, good, log);
    const before = tokens.issued.length;
    await pushImage(ok, 'team/redact', 'v1');
    lines.push(JSON.stringify(await ok.getManifest('team/redact', 'v1')));

    const bad = createAuthenticator({
      credentials: { [registry.host]: { username: 'alice', password: 'wrong-Pa55word-x1' } },
      insecure: true,
      debug: log,
    });
    const failing = client(registry, bad, log);
    const error = (await failing.headManifest('team/redact', 'v1').catch((e: Error) => e)) as Error;
    lines.push(error.message, String(error.stack));

    const output = lines.join('\n');
    expect(lines.length).toBeGreaterThan(8);
    expect(output).toContain('team/redact');
    const secrets = [
      ALICE.password,
      'wrong-Pa55word-x1',
      Buffer.from(`alice:${ALICE.password}`).toString('base64'),
      Buffer.from('alice:wrong-Pa55word-x1').toString('base64'),
      ...tokens.issued.slice(before).map((t) => t.token),
    ];
    expect(secrets.length).toBeGreaterThan(4);
    for (const secret of secrets) expect(output).not.toContain(secret);
    await Promise.all([ok.close(), failing.close(), good.close(), bad.close()]);
  });
});

describe('Basic auth (registry auth.htpasswd, bcrypt)', () => {
  let registry: TestRegistry;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arbor-htpasswd-'));
    const file = join(dir, 'htpasswd');
    writeHtpasswd(file, { [ALICE.username]: ALICE.password });
    registry = await startRegistry({ extraConfig: htpasswdAuthConfig(file) });
  });

  afterAll(async () => {
    await destroyRegistry(registry);
  });

  test('right credentials from docker config.json: push and read back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arbor-docker-config-'));
    const auth64 = Buffer.from(`${ALICE.username}:${ALICE.password}`).toString('base64');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ auths: { [`http://${registry.host}`]: { auth: auth64 } } }),
    );
    const auth = createAuthenticator({ dockerConfigDir: dir, insecure: true });
    const alice = client(registry, auth);
    const digest = await pushImage(alice, 'basic/app', 'v1');
    expect((await alice.headManifest('basic/app', 'v1'))?.digest).toBe(digest);
    expect(await alice.listTags('basic/app')).toEqual(['v1']);
    await Promise.all([alice.close(), auth.close()]);
  });

  test('wrong credentials: a 401 error naming the reference, without the password', async () => {
    const auth = createAuthenticator({
      credentials: { [registry.host]: { username: 'alice', password: 'wrong-Pa55word-b2' } },
      insecure: true,
    });
    const wrong = client(registry, auth);
    const error = (await wrong.headManifest('basic/app', 'v1').catch((e: Error) => e)) as Error;
    expect(error.message).toMatch(
      new RegExp(`^${registry.host}/basic/app:v1: unauthorized: wrong credentials`),
    );
    expect(error.message).not.toContain('wrong-Pa55word-b2');
    await Promise.all([wrong.close(), auth.close()]);
  });

  test('no credentials at all: a 401 error', async () => {
    const auth = createAuthenticator({
      dockerConfigDir: mkdtempSync(join(tmpdir(), 'arbor-empty-')),
      insecure: true,
    });
    const anonymous = client(registry, auth);
    const error = (await anonymous.headManifest('basic/app', 'v1').catch((e: Error) => e)) as Error;
    expect(error.message).toMatch(
      new RegExp(`^${registry.host}/basic/app:v1: unauthorized: .*credentials.*\\(401\\)$`),
    );
    await Promise.all([anonymous.close(), auth.close()]);
  });
});

/**
 * The registry's access-log lines written after `offset`, once a line matching `until` is there
 * (the log reaches the file through a pipe, a moment after the response).
 */
async function logLines(registry: TestRegistry, offset: number, until: RegExp): Promise<string[]> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const lines = (await registry.log()).slice(offset).split('\n');
    if (lines.some((l) => until.test(l)) || Date.now() > deadline) return lines;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function slowStream(bytes: Buffer, piece: number, delayMs: number): Readable {
  let at = 0;
  return new Readable({
    read() {
      if (at >= bytes.length) {
        this.push(null);
        return;
      }
      const chunk = bytes.subarray(at, at + piece);
      at += piece;
      setTimeout(() => this.push(chunk), delayMs);
    },
  });
}
