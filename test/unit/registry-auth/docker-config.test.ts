// docker's config.json read from a temp DOCKER_CONFIG dir, with a real credential helper: a
// small executable `docker-credential-test` written into a temp dir put on PATH.
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  DOCKER_HUB_KEY,
  findCredentials,
  readDockerConfig,
  registryHost,
} from '../../../src/registry/auth/docker-config.js';
import { createAuthenticator } from '../../../src/registry/auth/index.js';
import { clearSecrets, redact } from '../../../src/secrets.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

let binDir: string;
let helperLog: string;
const originalPath = process.env.PATH;

// Answers like docker-credential-pass & co: JSON on success, "credentials not found" + exit 1.
const HELPER = `#!/bin/sh
read -r server
echo "$1 $server" >> "$HELPER_LOG"
case "$server" in
  127.0.0.1:5000) echo '{"ServerURL":"127.0.0.1:5000","Username":"helper-user","Secret":"helper-Secret-1"}' ;;
  ${DOCKER_HUB_KEY}) echo '{"ServerURL":"${DOCKER_HUB_KEY}","Username":"<token>","Secret":"identity-Tok-123"}' ;;
  broken.example) echo "fatal: secret=Leaked-Secret-9"; echo "Leaked-Secret-9" >&2; exit 3 ;;
  garbage.example) echo "this is not json Leaked-Secret-8" ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`;

function configDir(config: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'arbor-docker-config-'));
  writeFileSync(join(dir, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
  return dir;
}

beforeAll(() => {
  binDir = mkdtempSync(join(tmpdir(), 'arbor-cred-helper-'));
  helperLog = join(binDir, 'calls.log');
  writeFileSync(join(binDir, 'docker-credential-test'), HELPER);
  chmodSync(join(binDir, 'docker-credential-test'), 0o755);
  process.env.PATH = `${binDir}${delimiter}${originalPath}`;
  process.env.HELPER_LOG = helperLog;
});

afterAll(() => {
  process.env.PATH = originalPath;
  clearSecrets();
});

describe('registry keys', () => {
  test('with or without scheme and path; Docker Hub aliases are one', () => {
    expect(registryHost('https://127.0.0.1:5000')).toBe('127.0.0.1:5000');
    expect(registryHost('http://127.0.0.1:5000/v2/')).toBe('127.0.0.1:5000');
    expect(registryHost('Ghcr.IO')).toBe('ghcr.io');
    expect(registryHost(DOCKER_HUB_KEY)).toBe('docker.io');
    expect(registryHost('registry-1.docker.io')).toBe('docker.io');
    expect(registryHost('docker.io')).toBe('docker.io');
  });
});

describe('auths', () => {
  test('base64 auth, username/password and identitytoken, keyed with or without scheme', async () => {
    const dir = configDir({
      auths: {
        'https://127.0.0.1:5001': { auth: b64('alice:s3cret:with:colons') },
        '127.0.0.1:5002': { username: 'bob', password: 'bob-Password-2' },
        'registry.example': { auth: b64('carol:'), identitytoken: 'carol-Identity-3' },
        [DOCKER_HUB_KEY]: { auth: b64('hubuser:hub-Password-4') },
      },
    });
    const config = await readDockerConfig(dir);
    expect(await findCredentials(config, '127.0.0.1:5001')).toEqual({
      credentials: { username: 'alice', password: 's3cret:with:colons' },
      source: join(dir, 'config.json'),
    });
    expect((await findCredentials(config, '127.0.0.1:5002'))?.credentials).toEqual({
      username: 'bob',
      password: 'bob-Password-2',
    });
    expect((await findCredentials(config, 'registry.example'))?.credentials).toEqual({
      username: 'carol',
      password: '',
      identityToken: 'carol-Identity-3',
    });
    expect((await findCredentials(config, 'docker.io'))?.credentials.username).toBe('hubuser');
    expect(await findCredentials(config, '127.0.0.1:5999')).toBeUndefined();
    // Read means registered: none of them can be printed any more.
    expect(
      redact(`x s3cret:with:colons bob-Password-2 carol-Identity-3 ${b64('hubuser:hub-Password-4')}`),
    ).toBe('x *** *** *** ***');
  });

  test('DOCKER_CONFIG is the default directory', async () => {
    const dir = configDir({ auths: { 'env.example': { auth: b64('envuser:env-Password-5') } } });
    const saved = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = dir;
    try {
      expect((await findCredentials(await readDockerConfig(), 'env.example'))?.credentials.username).toBe(
        'envuser',
      );
    } finally {
      if (saved === undefined) delete process.env.DOCKER_CONFIG;
      else process.env.DOCKER_CONFIG = saved;
    }
  });

  test('a missing config.json is no credentials; a malformed one is an error naming the file', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'arbor-no-config-'));
    expect(await findCredentials(await readDockerConfig(empty), '127.0.0.1:5000')).toBeUndefined();
    const bad = configDir('{ "auths": { ');
    await expect(readDockerConfig(bad)).rejects.toThrow(`${join(bad, 'config.json')}: not valid JSON`);
    const wrongType = configDir({ auths: { x: { auth: 42 } } });
    await expect(readDockerConfig(wrongType)).rejects.toThrow('auths["x"].auth must be a string');
    const notUserPass = configDir({ auths: { y: { auth: b64('no-colon-here') } } });
    await expect(findCredentials(await readDockerConfig(notUserPass), 'y')).rejects.toThrow(
      'auths entry for y: "auth" is not base64 of user:password',
    );
  });
});

describe('credential helpers', () => {
  test('credHelpers per registry, with the server URL on stdin; <token> means an identity token', async () => {
    const config = await readDockerConfig(
      configDir({ credHelpers: { '127.0.0.1:5000': 'test', 'docker.io': 'test' } }),
    );
    expect(await findCredentials(config, '127.0.0.1:5000')).toEqual({
      credentials: { username: 'helper-user', password: 'helper-Secret-1' },
      source: 'credential helper docker-credential-test',
    });
    expect((await findCredentials(config, 'docker.io'))?.credentials).toEqual({
      identityToken: 'identity-Tok-123',
    });
    expect(readFileSync(helperLog, 'utf8')).toContain(`get ${DOCKER_HUB_KEY}\n`);
    expect(redact('helper-Secret-1 identity-Tok-123')).toBe('*** ***');
  });

  test('credsStore for every registry; nothing stored falls through to auths', async () => {
    const config = await readDockerConfig(
      configDir({ credsStore: 'test', auths: { 'other.example': { auth: b64('fallback:fallback-Pw-6') } } }),
    );
    expect((await findCredentials(config, '127.0.0.1:5000'))?.credentials.username).toBe('helper-user');
    expect(await findCredentials(config, 'other.example')).toEqual({
      credentials: { username: 'fallback', password: 'fallback-Pw-6' },
      source: config.path,
    });
    expect(await findCredentials(config, 'nothing.example')).toBeUndefined();
  });

  test('a failing helper: error names helper and registry, never its output', async () => {
    const config = await readDockerConfig(configDir({ credsStore: 'test' }));
    const failed = (await findCredentials(config, 'broken.example').catch((e: Error) => e)) as Error;
    expect(failed.message).toBe(
      'error: credential helper docker-credential-test failed for broken.example (exit code 3)',
    );
    const garbage = (await findCredentials(config, 'garbage.example').catch((e: Error) => e)) as Error;
    expect(garbage.message).toBe(
      'error: credential helper docker-credential-test returned output that is not JSON for garbage.example',
    );
    expect(`${failed.message} ${garbage.message}`).not.toMatch(/Leaked-Secret/);
  });

  test('a helper that is not installed, and a helper name that is a path', async () => {
    const missing = await readDockerConfig(configDir({ credHelpers: { 'x.example': 'absent' } }));
    await expect(findCredentials(missing, 'x.example')).rejects.toThrow(
      'credential helper docker-credential-absent for x.example is not on PATH',
    );
    const path = await readDockerConfig(configDir({ credsStore: '../../bin/sh' }));
    await expect(findCredentials(path, 'x.example')).rejects.toThrow('is not a plain program name');
  });

  test('the authenticator runs a helper once per registry, and given credentials win over docker config', async () => {
    const dir = configDir({ credHelpers: { '127.0.0.1:5000': 'test' } });
    const before = readFileSync(helperLog, 'utf8').split('\n').length;
    const auth = createAuthenticator({ dockerConfigDir: dir });
    const first = await auth.challenge('127.0.0.1:5000', null, 'Basic realm="r"');
    expect(first).toBe(`Basic ${b64('helper-user:helper-Secret-1')}`);
    expect(await auth.header('127.0.0.1:5000', { repository: 'a', actions: ['pull'] })).toBe(first);
    expect(readFileSync(helperLog, 'utf8').split('\n').length - before).toBe(1);

    const given = createAuthenticator({
      dockerConfigDir: dir,
      credentials: { 'https://127.0.0.1:5000': { username: 'given', password: 'given-Pw-7' } },
    });
    expect(await given.challenge('127.0.0.1:5000', null, 'Basic realm="r"')).toBe(
      `Basic ${b64('given:given-Pw-7')}`,
    );
    expect(redact('given-Pw-7')).toBe('***');
  });
});
