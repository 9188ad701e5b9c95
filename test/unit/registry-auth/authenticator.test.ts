// The authenticator against the loopback token server (real HTTP, real JWTs), with a fake clock
// for refresh timing. No registry here: challenges are written as distribution writes them.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createAuthenticator } from '../../../src/registry/auth/index.js';
import { refreshMargin } from '../../../src/registry/auth/token-cache.js';
import { clearSecrets, redact } from '../../../src/secrets.js';
import { createCa, issueCertificate } from '../../support/tls.js';
import { everything, pullOnly, startTokenServer, type TokenServer } from '../../support/token-server.js';

const REGISTRY = '127.0.0.1:5000';
const ALICE = { username: 'alice', password: 'alice-Unit-Pa55' };
const pull = (repository: string) => ({ repository, actions: ['pull' as const] });
const pullPush = (repository: string) => ({ repository, actions: ['pull' as const, 'push' as const] });

let tokens: TokenServer;
let bearer: (scope?: string, error?: string) => string;

beforeAll(async () => {
  const ca = createCa('arbor unit CA');
  tokens = await startTokenServer({
    signing: issueCertificate(ca, 'unit-signer'),
    users: {
      alice: { password: ALICE.password, rights: everything },
      bob: { password: 'bob-Unit-Pa55', rights: pullOnly },
    },
    expiresIn: 60,
  });
  bearer = (scope, error) =>
    `Bearer realm="${tokens.realm}",service="${tokens.service}"${scope ? `,scope="${scope}"` : ''}${error ? `,error="${error}"` : ''}`;
});

afterAll(async () => {
  await tokens.close();
  clearSecrets();
});

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

function authenticator(time = clock()) {
  return createAuthenticator({ credentials: { [REGISTRY]: ALICE }, now: time.now });
}

const issuedSince = (mark: number) => tokens.issued.length - mark;

describe('Bearer tokens', () => {
  test('nothing is known before a challenge: the first request goes out anonymous', async () => {
    expect(await authenticator().header(REGISTRY, pull('a'))).toBeUndefined();
  });

  test('one token per scope, reused; a pull,push token also serves pull', async () => {
    const auth = authenticator();
    const mark = tokens.issued.length;
    const first = await auth.challenge(
      REGISTRY,
      pullPush('team/app'),
      bearer('repository:team/app:pull'),
      null,
    );
    expect(first).toMatch(/^Bearer ey/);
    expect(tokens.requests.at(-1)?.scopes).toEqual(['repository:team/app:pull,push']);
    expect(await auth.header(REGISTRY, pullPush('team/app'))).toBe(first);
    expect(await auth.header(REGISTRY, pull('team/app'))).toBe(first);
    // Another repository: fetched directly, the realm is known.
    const other = await auth.header(REGISTRY, pull('team/other'));
    expect(other).not.toBe(first);
    expect(tokens.requests.at(-1)?.scopes).toEqual(['repository:team/other:pull']);
    expect(issuedSince(mark)).toBe(2);
    // A token never reaches output.
    expect(redact(`sent ${first} and ${other!.slice(7)}`)).toBe('sent Bearer *** and ***');
  });

  test('the scopes of the caller and of the challenge are joined (a mount needs pull on the source)', async () => {
    const auth = authenticator();
    await auth.challenge(
      REGISTRY,
      pullPush('team/dest'),
      bearer('repository:team/src:pull repository:team/dest:push'),
      null,
    );
    expect(tokens.requests.at(-1)?.scopes).toEqual([
      'repository:team/dest:pull,push',
      'repository:team/src:pull',
    ]);
  });

  test('refreshed before expires_in runs out: 10 % of the lifetime ahead, within 1 s to 10 s', async () => {
    expect(refreshMargin(60_000)).toBe(6_000);
    expect(refreshMargin(3_600_000)).toBe(10_000);
    expect(refreshMargin(5_000)).toBe(1_000);
    expect(refreshMargin(2_000)).toBe(1_000);
    expect(refreshMargin(1_000)).toBe(500);
    const time = clock();
    const auth = authenticator(time);
    const mark = tokens.issued.length;
    const first = await auth.challenge(REGISTRY, pull('team/t'), bearer('repository:team/t:pull'), null);
    time.advance(53_900);
    expect(await auth.header(REGISTRY, pull('team/t'))).toBe(first);
    expect(issuedSince(mark)).toBe(1);
    time.advance(200); // 54.1 s of 60: inside the margin
    const second = await auth.header(REGISTRY, pull('team/t'));
    expect(second).not.toBe(first);
    expect(issuedSince(mark)).toBe(2);
  });

  test('expires_in of 2 s: the token is renewed after 1 s', async () => {
    tokens.setLifetime(2);
    try {
      const time = clock();
      const auth = authenticator(time);
      const first = await auth.challenge(
        REGISTRY,
        pull('team/short'),
        bearer('repository:team/short:pull'),
        null,
      );
      time.advance(900);
      expect(await auth.header(REGISTRY, pull('team/short'))).toBe(first);
      time.advance(200);
      expect(await auth.header(REGISTRY, pull('team/short'))).not.toBe(first);
    } finally {
      tokens.setLifetime(60);
    }
  });

  test('concurrent requests share one fetch (no thundering herd)', async () => {
    const auth = authenticator();
    await auth.challenge(REGISTRY, pull('team/x'), bearer('repository:team/x:pull'), null);
    const mark = tokens.issued.length;
    const headers = await Promise.all(
      Array.from({ length: 20 }, () => auth.header(REGISTRY, pull('team/herd'))),
    );
    expect(new Set(headers).size).toBe(1);
    expect(issuedSince(mark)).toBe(1);
    // Twenty anonymous requests challenged at once: still one fetch.
    const fresh = authenticator();
    const mark2 = tokens.issued.length;
    const retries = await Promise.all(
      Array.from({ length: 20 }, () =>
        fresh.challenge(REGISTRY, pull('team/herd'), bearer('repository:team/herd:pull'), null),
      ),
    );
    expect(new Set(retries).size).toBe(1);
    expect(issuedSince(mark2)).toBe(1);
  });

  test('a refused token is dropped and replaced; a request that raced the refresh gets the new one', async () => {
    const auth = authenticator();
    const old = await auth.challenge(REGISTRY, pull('team/r'), bearer('repository:team/r:pull'), null);
    const mark = tokens.issued.length;
    const renewed = await auth.challenge(
      REGISTRY,
      pull('team/r'),
      bearer('repository:team/r:pull', 'invalid_token'),
      old,
    );
    expect(renewed).not.toBe(old);
    expect(issuedSince(mark)).toBe(1);
    // Another request that also carried the old token: no second fetch.
    expect(
      await auth.challenge(REGISTRY, pull('team/r'), bearer('repository:team/r:pull', 'invalid_token'), old),
    ).toBe(renewed);
    expect(await auth.header(REGISTRY, pull('team/r'))).toBe(renewed);
    expect(issuedSince(mark)).toBe(1);
  });

  test('a refused token is replaced by one fetched now, not by an older cached token that covers the scope too (a mount’s)', async () => {
    const auth = authenticator();
    const own = await auth.challenge(
      REGISTRY,
      pullPush('site/dest'),
      bearer('repository:site/dest:pull,push'),
      null,
    );
    // A cross-repository mount's token: push on dest and pull on the source, fetched before the refusal.
    const mount = await auth.challenge(
      REGISTRY,
      pullPush('site/dest'),
      bearer('repository:site/dest:push repository:site/src:pull'),
      null,
    );
    expect(mount).not.toBe(own);
    expect(await auth.header(REGISTRY, pullPush('site/dest'))).toBe(own);
    const mark = tokens.issued.length;
    const retry = await auth.challenge(
      REGISTRY,
      pullPush('site/dest'),
      bearer('repository:site/dest:pull,push', 'invalid_token'),
      own,
    );
    expect(issuedSince(mark)).toBe(1);
    expect([own, mount]).not.toContain(retry);
    expect(await auth.header(REGISTRY, pullPush('site/dest'))).toBe(retry);
  });

  test('when the caller does not say what it sent, a token given out by header() counts as refused', async () => {
    const auth = authenticator();
    await auth.challenge(REGISTRY, pull('team/u'), bearer('repository:team/u:pull'), null);
    const sent = await auth.header(REGISTRY, pull('team/u'));
    const mark = tokens.issued.length;
    const renewed = await auth.challenge(REGISTRY, pull('team/u'), bearer('repository:team/u:pull'));
    expect(renewed).not.toBe(sent);
    expect(issuedSince(mark)).toBe(1);
  });

  test('insufficient_scope for a token already asked for those scopes: denied, with the scope named', async () => {
    const bob = createAuthenticator({
      credentials: { [REGISTRY]: { username: 'bob', password: 'bob-Unit-Pa55' } },
    });
    const token = await bob.challenge(REGISTRY, pullPush('team/b'), bearer('repository:team/b:push'), null);
    expect(tokens.issued.at(-1)?.access).toEqual([{ type: 'repository', name: 'team/b', actions: ['pull'] }]);
    await expect(
      bob.challenge(
        REGISTRY,
        pullPush('team/b'),
        bearer('repository:team/b:pull,push', 'insufficient_scope'),
        token,
      ),
    ).rejects.toThrow(
      `denied: the token server for ${REGISTRY} did not grant repository:team/b:pull,push (insufficient_scope)`,
    );
  });

  test('token server refusals: wrong credentials, or credentials required', async () => {
    const wrong = createAuthenticator({
      credentials: { [REGISTRY]: { username: 'alice', password: 'nope-Pa55' } },
    });
    const error = (await wrong
      .challenge(REGISTRY, pull('a'), bearer('repository:a:pull'), null)
      .catch((e) => e)) as Error;
    expect(error.message).toBe(
      `error: unauthorized: wrong credentials for ${REGISTRY} (from the credentials given to arbor)`,
    );
    expect(error.message).not.toContain('nope-Pa55');
    const anonymous = createAuthenticator({ dockerConfigDir: '/nonexistent-arbor-dir' });
    await expect(anonymous.challenge(REGISTRY, pull('a'), bearer('repository:a:pull'), null)).rejects.toThrow(
      `unauthorized: ${REGISTRY} requires credentials and none were found (run docker login ${REGISTRY})`,
    );
  });

  test('an identity token goes through the OAuth2 POST, and access_token is accepted', async () => {
    const identityToken = tokens.issueRefreshToken('alice');
    const auth = createAuthenticator({ credentials: { [REGISTRY]: { identityToken } } });
    expect(await auth.challenge(REGISTRY, pull('o'), bearer('repository:o:pull'), null)).toMatch(
      /^Bearer ey/,
    );
    expect(tokens.requests.at(-1)).toMatchObject({
      method: 'POST',
      grantType: 'refresh_token',
      user: 'alice',
    });
    expect(redact(identityToken)).toBe('***');
  });
});

test('a public registry: anonymous tokens for pull, no credentials needed or sent', async () => {
  const ca = createCa('arbor public CA');
  const open = await startTokenServer({
    signing: issueCertificate(ca, 'public-signer'),
    users: {},
    anonymous: pullOnly,
  });
  try {
    const auth = createAuthenticator({ dockerConfigDir: '/nonexistent-arbor-dir' });
    const header = await auth.challenge(
      'public.example',
      pull('lib/app'),
      `Bearer realm="${open.realm}",service="${open.service}",scope="repository:lib/app:pull"`,
      null,
    );
    expect(header).toMatch(/^Bearer ey/);
    expect(open.requests).toMatchObject([{ method: 'GET', user: null, scopes: ['repository:lib/app:pull'] }]);
    expect(open.issued[0]?.access).toEqual([{ type: 'repository', name: 'lib/app', actions: ['pull'] }]);
  } finally {
    await open.close();
  }
});

describe('token servers that answer differently', () => {
  let server: ReturnType<typeof createServer>;
  let realm: string;
  let answer: { status: number; body: string };

  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    realm = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  });

  afterAll(async () => {
    server.close();
    await once(server, 'close');
  });

  test('access_token only, without expires_in: the spec default of 60 s applies', async () => {
    answer = { status: 200, body: JSON.stringify({ access_token: 'opaque-Token-abc' }) };
    const time = clock();
    const auth = createAuthenticator({ credentials: { [REGISTRY]: ALICE }, now: time.now });
    expect(await auth.challenge(REGISTRY, pull('a'), `Bearer realm="${realm}"`, null)).toBe(
      'Bearer opaque-Token-abc',
    );
    answer = { status: 200, body: JSON.stringify({ token: 'opaque-Token-def', expires_in: 300 }) };
    time.advance(53_000);
    expect(await auth.header(REGISTRY, pull('a'))).toBe('Bearer opaque-Token-abc');
    time.advance(2_000);
    expect(await auth.header(REGISTRY, pull('a'))).toBe('Bearer opaque-Token-def');
    expect(redact('opaque-Token-abc')).toBe('***');
  });

  test('errors from the token server: status and its reason, no token, not JSON', async () => {
    const auth = () => createAuthenticator({ credentials: { [REGISTRY]: ALICE } });
    answer = { status: 503, body: JSON.stringify({ errors: [{ message: 'maintenance' }] }) };
    await expect(auth().challenge(REGISTRY, pull('a'), `Bearer realm="${realm}"`, null)).rejects.toThrow(
      `token server for ${REGISTRY} answered HTTP 503: maintenance`,
    );
    answer = { status: 200, body: JSON.stringify({ expires_in: 60 }) };
    await expect(auth().challenge(REGISTRY, pull('a'), `Bearer realm="${realm}"`, null)).rejects.toThrow(
      'answered without a token',
    );
    answer = { status: 200, body: '<html>' };
    await expect(auth().challenge(REGISTRY, pull('a'), `Bearer realm="${realm}"`, null)).rejects.toThrow(
      'answered with something that is not JSON',
    );
  });

  test('a token server that is down: cannot reach, naming it', async () => {
    const auth = createAuthenticator({ credentials: { [REGISTRY]: ALICE } });
    await expect(
      auth.challenge(REGISTRY, pull('a'), 'Bearer realm="http://127.0.0.1:1/token"', null),
    ).rejects.toThrow(`cannot reach token server http://127.0.0.1:1 (for ${REGISTRY}): ECONNREFUSED`);
  });

  test('credentials are never sent to a plain-HTTP realm off loopback (insecure opens only the own host of the registry)', async () => {
    const auth = createAuthenticator({ credentials: { 'registry.example': ALICE } });
    await expect(
      auth.challenge('registry.example', pull('a'), 'Bearer realm="http://auth.example/token"', null),
    ).rejects.toThrow(
      'refusing to send credentials for registry.example to token realm http://auth.example over plain HTTP',
    );
    // Marked insecure, its own host may get them (not tried: no network here); another host may not.
    const insecure = createAuthenticator({ credentials: { 'registry.example:5000': ALICE }, insecure: true });
    await expect(
      insecure.challenge(
        'registry.example:5000',
        pull('a'),
        'Bearer realm="http://auth.example/token"',
        null,
      ),
    ).rejects.toThrow('refusing to send credentials');
    await expect(
      auth.challenge('registry.example', pull('a'), 'Bearer realm="ftp://x/token"', null),
    ).rejects.toThrow('names a token realm with scheme ftp:');
  });
});

describe('Basic', () => {
  test('after a Basic challenge, every request carries the credentials', async () => {
    const auth = authenticator();
    const header = await auth.challenge(REGISTRY, pull('a'), 'Basic realm="registry"', null);
    expect(header).toBe(`Basic ${Buffer.from(`alice:${ALICE.password}`).toString('base64')}`);
    expect(await auth.header(REGISTRY, pull('b'))).toBe(header);
    expect(await auth.header(REGISTRY, null)).toBe(header);
    expect(redact(`authorization: ${header}`)).not.toContain(header!.slice(6));
  });

  test('the same credentials refused again: wrong credentials, with where they came from', async () => {
    const auth = authenticator();
    const header = await auth.challenge(REGISTRY, pull('a'), 'Basic realm="registry"', null);
    await expect(auth.challenge(REGISTRY, pull('a'), 'Basic realm="registry"', header)).rejects.toThrow(
      `unauthorized: wrong credentials for ${REGISTRY} (from the credentials given to arbor)`,
    );
  });

  test('no credentials: nothing to try; an unknown scheme: a clear error', async () => {
    const none = createAuthenticator({ dockerConfigDir: '/nonexistent-arbor-dir' });
    expect(await none.challenge(REGISTRY, pull('a'), 'Basic realm="registry"', null)).toBeUndefined();
    expect(await none.challenge(REGISTRY, pull('a'), '', null)).toBeUndefined();
    await expect(none.challenge(REGISTRY, pull('a'), 'Negotiate abc==', null)).rejects.toThrow(
      `registry ${REGISTRY} asks for an authentication scheme arbor does not speak: negotiate`,
    );
  });
});
