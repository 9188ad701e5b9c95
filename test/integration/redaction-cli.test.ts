// Secrets never reach what a user sees: every output of the CLI — stdout, stderr, --debug lines,
// error messages, saved plans — is searched for the password, its Basic-auth form and every token
// the token server issued, after commands that succeed and commands that fail.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticator } from '../../src/registry/auth/index.js';
import { createRegistryClient } from '../../src/registry/client.js';
import { BIN } from '../support/cli.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { createCa, issueCertificate } from '../support/tls.js';
import { everything, startTokenServer, type TokenServer } from '../support/token-server.js';
import { copyDefaultTree, type TreeCopy } from '../support/tree.js';
import { pushImage } from './registry-fixtures.js';

const USER = 'carol';
const PASSWORD = 'pw-Zq8!redaction-canary-31337';
const BASIC = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');

let tokens: TokenServer;
let registry: TestRegistry;
let tree: TreeCopy;
let dockerConfig: string;
let wrongConfig: string;
const outputs: string[] = [];

/** The CLI as a child process, without blocking this process (the token server lives here). */
async function arbor(args: string[], configDir: string) {
  const result = await execa(process.execPath, [BIN, ...args], {
    cwd: tree.dir,
    env: { DOCKER_CONFIG: configDir, NO_COLOR: '1' },
    reject: false,
  });
  outputs.push(result.stdout, result.stderr);
  return { code: result.exitCode, stdout: result.stdout, stderr: result.stderr };
}

async function dockerConfigWith(auth: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'arbor-docker-config-'));
  await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth } } }));
  return dir;
}

beforeAll(async () => {
  const ca = createCa();
  tokens = await startTokenServer({
    signing: issueCertificate(ca, 'token-signer'),
    users: { [USER]: { password: PASSWORD, rights: everything } },
    expiresIn: 60,
  });
  registry = await startRegistry({ extraConfig: tokens.registryAuthConfig(ca) });
  const client = createRegistryClient({
    registry: registry.host,
    insecure: true,
    authenticator: createAuthenticator({
      credentials: { [registry.host]: { username: USER, password: PASSWORD } },
    }),
  });
  await pushImage(client, 'arbor-demo/base', '2025.1', { labels: { 'org.arbor.fingerprint': 'sha256:x' } });
  await client.close();
  tree = await copyDefaultTree(registry.host);
  dockerConfig = await dockerConfigWith(BASIC);
  wrongConfig = await dockerConfigWith(Buffer.from(`${USER}:wrong-${PASSWORD}`).toString('base64'));
});

afterAll(async () => {
  await tokens?.close();
  if (registry) await destroyRegistry(registry);
  await tree?.remove();
  for (const dir of [dockerConfig, wrongConfig]) if (dir) await rm(dir, { recursive: true, force: true });
});

describe('no secret in any output of the CLI', () => {
  it('ls, inspect and plan with --debug, saved plans, and failures', async () => {
    const ls = await arbor(['ls', `${registry.host}/arbor-demo/base`, '--insecure', '--debug'], dockerConfig);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain('2025.1');
    // The debug output is really there: requests with their statuses.
    expect(ls.stderr).toMatch(/GET .*\/v2\/arbor-demo\/base\/tags\/list/);

    const inspect = await arbor(
      ['inspect', `${registry.host}/arbor-demo/base:2025.1`, '--insecure', '--debug'],
      dockerConfig,
    );
    expect(inspect.code, inspect.stderr).toBe(0);

    const planFile = join(tree.dir, 'plan.json');
    const plan = await arbor(['plan', '--debug', '--out', planFile], dockerConfig);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('Plan: 10 to build');
    outputs.push(await readFile(planFile, 'utf8'));
    const markdown = await arbor(['plan', '--format', 'markdown'], dockerConfig);
    expect(markdown.code).toBe(0);

    const wrong = await arbor(
      ['ls', `${registry.host}/arbor-demo/base`, '--insecure', '--debug'],
      wrongConfig,
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/unauthorized|wrong credentials/);
    const wrongPlan = await arbor(['plan', '--debug'], wrongConfig);
    expect(wrongPlan.code).toBe(1);

    // Tokens were really issued and used, so there was something to leak.
    expect(tokens.issued.length).toBeGreaterThan(0);
    const secrets = [PASSWORD, BASIC, encodeURIComponent(PASSWORD), ...tokens.issued.map((t) => t.token)];
    const everything = outputs.join('\n');
    expect(everything.length).toBeGreaterThan(1000);
    for (const secret of secrets)
      expect(everything.includes(secret), `a secret leaked: ${secret.slice(0, 6)}…`).toBe(false);
  });
});
