// The bad-input corpus (test/fixtures/bad-input, see its README): for every case, `arbor validate`
// and `arbor plan` — the built CLI, as a user runs it — agree: the same errors, exit 1, short and
// located, each said once, and plan says them before it asks the registry anything (its registry
// is a loopback tripwire that counts connections).
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../../support/cli.js';

const CORPUS = fileURLToPath(new URL('../../fixtures/bad-input/', import.meta.url));
const BASE = path.join(CORPUS, '_base');
/** The registry every case names; replaced by the tripwire's address in each copy. */
const CORPUS_REGISTRY = 'url: 127.0.0.1:9\n';
/** "A few lines": the most any case may print, and the longest line. */
const MAX_LINES = 12;
const MAX_LINE_CHARS = 600;

interface Case {
  why: string;
  expect: string[];
  env?: Record<string, string | null>;
  remove?: string[];
  links?: Record<string, string>;
  fifos?: string[];
  generate?: Record<string, { random?: number; repeat?: string; count?: number; hex?: string }>;
  /** A secret the case's files hold: never printed, never copied under .arbor/. */
  secret?: string;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const names = (await readdir(CORPUS, { withFileTypes: true }))
  .filter((entry) => entry.isDirectory() && !entry.name.startsWith('_'))
  .map((entry) => entry.name)
  .sort();

let tripwire: Server;
let registryHost: string;
let connections = 0;
const workDirs: string[] = [];
// Cases run a few at a time in child processes; each test awaits its own pair of runs.
const limit = pLimit(4);
const results = new Map<string, Promise<{ validate: Run; plan: Run; spec: Case; stored: string }>>();

beforeAll(async () => {
  // Not a registry: it counts connections and answers 404 (nothing there), so the control case
  // below can show that a plan of a valid tree does reach it.
  tripwire = createServer((request, response) => {
    response.writeHead(request.url === '/v2/' ? 200 : 404, { 'content-type': 'application/json' });
    response.end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"tripwire"}]}');
  });
  tripwire.on('connection', () => connections++);
  tripwire.listen(0, '127.0.0.1');
  await once(tripwire, 'listening');
  registryHost = `127.0.0.1:${(tripwire.address() as AddressInfo).port}`;
  for (const name of names)
    results.set(
      name,
      limit(() => runCase(name)),
    );
});

afterAll(async () => {
  tripwire?.close();
  await Promise.all(workDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

async function prepare(name: string | null): Promise<{ dir: string; spec: Case }> {
  const dir = await mkdtemp(path.join(tmpdir(), `arbor-bad-${name ?? 'base'}-`));
  workDirs.push(dir);
  await cp(BASE, dir, { recursive: true });
  let spec: Case = { why: 'the valid base tree', expect: [] };
  if (name) {
    const caseDir = path.join(CORPUS, name);
    spec = JSON.parse(await readFile(path.join(caseDir, 'case.json'), 'utf8')) as Case;
    await cp(caseDir, dir, { recursive: true, filter: (source) => path.basename(source) !== 'case.json' });
    for (const file of spec.remove ?? []) await rm(path.join(dir, file), { recursive: true });
    for (const [link, target] of Object.entries(spec.links ?? {})) {
      await mkdir(path.dirname(path.join(dir, link)), { recursive: true });
      await symlink(target, path.join(dir, link));
    }
    for (const fifo of spec.fifos ?? []) execFileSync('mkfifo', [path.join(dir, fifo)]);
    for (const [file, how] of Object.entries(spec.generate ?? {})) {
      await writeFile(path.join(dir, file), generated(how));
    }
  }
  const config = path.join(dir, 'images.yaml');
  const text = await readFile(config, 'latin1');
  await writeFile(config, text.replace(CORPUS_REGISTRY, `url: ${registryHost}\n`), 'latin1');
  return { dir, spec };
}

function generated(how: NonNullable<Case['generate']>[string]): Buffer {
  if (how.hex !== undefined) return Buffer.from(how.hex, 'hex');
  if (how.repeat !== undefined) return Buffer.from(how.repeat.repeat(how.count ?? 1));
  // Seeded (a linear congruential generator): the same bytes on every run.
  const bytes = Buffer.alloc(how.random ?? 0);
  let state = 0x2545f491;
  for (let i = 0; i < bytes.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}

function environment(spec: Case): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', BUILD_NO: '7' };
  for (const [key, value] of Object.entries(spec.env ?? {})) {
    if (value === null) delete env[key];
    else env[key] = value;
  }
  return env;
}

async function arbor(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code: code ?? 1, stdout, stderr };
}

async function runCase(name: string) {
  const { dir, spec } = await prepare(name);
  const env = environment(spec);
  const validate = await arbor(['validate'], dir, env);
  const plan = await arbor(['plan', '--no-retention'], dir, env);
  return { validate, plan, spec, stored: await storedText(dir) };
}

/** Every file arbor wrote under the case's .arbor/, as one text. */
async function storedText(dir: string): Promise<string> {
  const entries = await readdir(path.join(dir, '.arbor'), { recursive: true, withFileTypes: true }).catch(
    () => [],
  );
  const files = entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
  return (await Promise.all(files.map((f) => readFile(f, 'latin1')))).join('\n');
}

describe('the bad-input corpus', () => {
  it('plan asks the registry nothing for any bad case', async () => {
    expect(names.length).toBeGreaterThan(20);
    await Promise.all(results.values());
    expect(connections).toBe(0);
  });

  it('has a valid base tree: validate says ok, and plan does reach the registry (the tripwire works)', async () => {
    const { dir, spec } = await prepare(null);
    const env = environment(spec);
    const validate = await arbor(['validate'], dir, env);
    expect(validate).toMatchObject({ code: 0, stderr: '' });
    const plan = await arbor(['plan', '--no-retention'], dir, env);
    expect(plan.stderr).toBe('');
    expect(plan.code).toBe(0);
    expect(connections).toBeGreaterThan(0);
  });

  it.each(names)('%s: validate and plan agree, exit 1, short located errors', async (name) => {
    const { validate, plan, spec } = await results.get(name)!;
    const why = `${name}: ${spec.why}\n--- validate:\n${validate.stderr}--- plan:\n${plan.stderr}`;
    expect(spec.expect.length, `${name}: case.json expects nothing`).toBeGreaterThan(0);
    expect(validate.code, why).toBe(1);
    expect(plan.code, why).toBe(1);
    expect(validate.stdout, why).toBe('');
    expect(plan.stdout, why).toBe('');
    expect(plan.stderr, why).toBe(validate.stderr);

    const lines = validate.stderr.trimEnd().split('\n');
    expect(lines.length, why).toBeLessThanOrEqual(MAX_LINES);
    for (const line of lines) {
      expect(line.length, why).toBeLessThanOrEqual(MAX_LINE_CHARS);
      // Every line is an error (or warning) with its file:line:col.
      expect(line, why).toMatch(/^[^\s:][^:]*:\d+:\d+: (error|warning): \S/);
    }
    expect(new Set(lines).size, `${why}\nsaid twice`).toBe(lines.length);
    for (const expected of spec.expect) expect(validate.stderr, why).toContain(expected);
  });

  it('a secret in the files of a case is neither printed nor stored under .arbor/', async () => {
    const withSecrets = (await Promise.all(results.values())).filter((r) => r.spec.secret);
    expect(withSecrets.length).toBeGreaterThan(0);
    for (const { validate, plan, spec, stored } of withSecrets)
      for (const text of [validate.stdout, validate.stderr, plan.stdout, plan.stderr, stored])
        expect(text, spec.why).not.toContain(spec.secret);
  });
});
