// TLS with a self-signed CA made by openssl: a real registry serving https on 127.0.0.1 (Basic
// auth over it), and a token realm over https. Trusted with the CA file → works; without → a
// clear "not trusted" error, never a silent downgrade.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createAuthenticator } from '../../src/registry/auth/index.js';
import { createRegistryClient } from '../../src/registry/client.js';
import { OCI_MANIFEST } from '../../src/registry/media-types.js';
import { clearSecrets } from '../../src/secrets.js';
import { htpasswdAuthConfig, writeHtpasswd } from '../support/htpasswd.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { createCa, type IssuedCertificate, issueCertificate, type TestCa } from '../support/tls.js';
import { everything, startTokenServer, type TokenServer } from '../support/token-server.js';

const ALICE = { username: 'alice', password: 'alice-Tls-Pa55word' };
const EMPTY = { schemaVersion: 2, mediaType: OCI_MANIFEST };

let ca: TestCa;
let serverCert: IssuedCertificate;

beforeAll(() => {
  ca = createCa('arbor TLS test CA');
  serverCert = issueCertificate(ca, '127.0.0.1', ['127.0.0.1']);
});

afterAll(() => clearSecrets());

/** A manifest-only round trip: an OCI manifest with a config blob. */
async function roundTrip(client: ReturnType<typeof createRegistryClient>, repository: string): Promise<void> {
  const { createHash } = await import('node:crypto');
  const config = Buffer.from('{}');
  const digest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  await client.uploadBlob(repository, digest, config, config.length);
  const manifest = Buffer.from(
    JSON.stringify({
      ...EMPTY,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest, size: config.length },
      layers: [],
    }),
  );
  await client.putManifest(repository, 'v1', manifest, OCI_MANIFEST);
  expect(await client.listTags(repository)).toEqual(['v1']);
}

describe('registry over https with a self-signed CA (and Basic auth over it)', () => {
  let registry: TestRegistry;

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arbor-tls-htpasswd-'));
    writeHtpasswd(join(dir, 'htpasswd'), { [ALICE.username]: ALICE.password });
    registry = await startRegistry({
      tls: { certificate: serverCert.certFile, key: serverCert.keyFile },
      extraConfig: htpasswdAuthConfig(join(dir, 'htpasswd')),
    });
  });

  afterAll(async () => {
    await destroyRegistry(registry);
  });

  test('trusted with ca_file: push and list over TLS with Basic credentials', async () => {
    const auth = createAuthenticator({ credentials: { [registry.host]: ALICE }, caFile: ca.certFile });
    const client = createRegistryClient({
      registry: registry.host,
      caFile: ca.certFile,
      authenticator: auth,
    });
    await roundTrip(client, 'secure/app');
    expect(client.baseUrl.protocol).toBe('https:');
    await Promise.all([client.close(), auth.close()]);
  });

  test('without the CA: "certificate not trusted", naming the reference', async () => {
    const auth = createAuthenticator({ credentials: { [registry.host]: ALICE } });
    const client = createRegistryClient({ registry: registry.host, authenticator: auth, retries: 0 });
    const error = (await client.headManifest('secure/app', 'v1').catch((e: Error) => e)) as Error;
    expect(error.message).toBe(
      `${registry.host}/secure/app:v1: TLS certificate not trusted (use ca_file) during HEAD ${registry.host}/v2/secure/app/manifests/v1`,
    );
    await Promise.all([client.close(), auth.close()]);
  });
});

describe('token realm over https with a self-signed CA', () => {
  let tokens: TokenServer;
  let registry: TestRegistry;

  beforeAll(async () => {
    tokens = await startTokenServer({
      signing: issueCertificate(ca, 'tls-token-signer'),
      users: { [ALICE.username]: { password: ALICE.password, rights: everything } },
      tls: serverCert,
    });
    registry = await startRegistry({
      tls: { certificate: serverCert.certFile, key: serverCert.keyFile },
      extraConfig: tokens.registryAuthConfig(ca),
    });
  });

  afterAll(async () => {
    await destroyRegistry(registry);
    await tokens.close();
  });

  test('trusted with ca_file: tokens fetched over https, push works', async () => {
    expect(tokens.realm).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/token$/);
    const auth = createAuthenticator({ credentials: { [registry.host]: ALICE }, caFile: ca.certFile });
    const client = createRegistryClient({
      registry: registry.host,
      caFile: ca.certFile,
      authenticator: auth,
    });
    await roundTrip(client, 'secure/tokens');
    expect(tokens.requests.at(-1)).toMatchObject({ user: 'alice', status: 200 });
    await Promise.all([client.close(), auth.close()]);
  });

  test('token server certificate not trusted: a clear error naming the token server and registry', async () => {
    const auth = createAuthenticator({ credentials: { [registry.host]: ALICE } });
    const client = createRegistryClient({
      registry: registry.host,
      caFile: ca.certFile,
      authenticator: auth,
    });
    const seen = tokens.requests.length;
    const error = (await client.headManifest('secure/tokens', 'v1').catch((e: Error) => e)) as Error;
    const origin = new URL(tokens.realm).origin;
    expect(error.message).toMatch(
      new RegExp(`^error: TLS: certificate of token server ${origin} \\(for ${registry.host}\\) not trusted`),
    );
    expect(error.message).toContain('registry.ca_file');
    // The handshake failed before any credentials were sent.
    expect(tokens.requests.length).toBe(seen);
    await Promise.all([client.close(), auth.close()]);
  });

  test('a CA file that does not exist: an error naming the file', () => {
    const missing = join(ca.dir, 'no-such-ca.pem');
    const auth = createAuthenticator({ caFile: missing });
    // The file is read when the first token is fetched; tlsConnectOptions is the same check.
    return expect(
      auth.challenge(registry.host, null, `Bearer realm="${tokens.realm}",service="${tokens.service}"`),
    ).rejects.toThrow(`ca_file ${missing}: cannot read: ENOENT`);
  });
});
