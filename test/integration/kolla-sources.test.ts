// Kolla's `*-archive` sources as fingerprint inputs: `import-kolla --fetch-sources` downloads a
// url source from a loopback HTTP server and clones a git source from a local repository into
// the build contexts, recording the archive's SHA-256 and the commit. A new upstream commit or a
// new tarball then changes exactly the images that ADD the archive and their descendants; a
// re-import without fetching keeps archives and fingerprints; a checksum that does not match
// stops the import before anything changes.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { arbor, BIN, type CliResult } from '../support/cli.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { changedImages, fingerprintsOf, pushStandIns, subtreeOf } from './kolla-fixtures.js';

const SOURCE = fileURLToPath(new URL('../../../shared/kolla/source', import.meta.url));

let registry: TestRegistry;
let client: RegistryClient;
let server: Server;
let work: string;
let project: string;
let repo: string;
const served = new Map<string, Buffer>();

async function tarball(files: Record<string, string>): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise((resolve) => pack.on('end', () => resolve(undefined)));
  for (const [name, content] of Object.entries(files)) pack.entry({ name, mode: 0o644 }, content);
  pack.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function gitIn(dir: string, ...args: string[]): string {
  return execFileSync(
    'git',
    ['-C', dir, '-c', 'user.name=t', '-c', 'user.email=t@example.invalid', ...args],
    {
      encoding: 'utf8',
    },
  ).trim();
}

function importArgs(...extra: string[]): string[] {
  return [
    'import-kolla',
    SOURCE,
    '--out',
    project,
    '--base',
    'debian',
    '--registry',
    registry.host,
    '--insecure',
    '-o',
    `base_image=${registry.host}/stand-in/debian`,
    '--config',
    join(work, 'kolla-build.conf'),
    ...extra,
  ];
}

const FETCHED = ['glance-base', 'nova-base', 'nova-base-plugin-blazar'];

/** The CLI without blocking this process: the HTTP server serving the sources lives here. */
function arborAsync(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

const fingerprints = () => fingerprintsOf(join(project, 'images.yaml'));
const subtree = (name: string) => subtreeOf(join(project, 'images.yaml'), name);

function lock(section: string): { resolved?: { sha256?: string; commit?: string } } {
  return JSON.parse(readFileSync(join(project, 'kolla-sources', `${section}.json`), 'utf8'));
}

beforeAll(async () => {
  registry = await startRegistry();
  client = createRegistryClient({ registry: registry.host, insecure: true });
  work = mkdtempSync(join(tmpdir(), 'arbor-kolla-sources-'));
  project = join(work, 'project');
  server = createServer((req, res) => {
    const body = served.get(req.url ?? '');
    res.writeHead(body ? 200 : 404).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  served.set('/glance.tar.gz', await tarball({ 'glance-1.0/setup.py': 'print(1)\n' }));
  served.set('/blazar.tar.gz', await tarball({ 'blazar-nova-1.0/setup.py': 'print(2)\n' }));

  repo = join(work, 'nova.git');
  mkdirSync(repo);
  gitIn(repo, 'init', '--quiet', '--initial-branch=main');
  writeFileSync(join(repo, 'setup.py'), 'print("nova")\n');
  gitIn(repo, 'add', '.');
  gitIn(repo, 'commit', '--quiet', '-m', 'one');

  writeFileSync(
    join(work, 'kolla-build.conf'),
    [
      '[glance-base]',
      'type = url',
      `location = http://127.0.0.1:${port}/glance.tar.gz`,
      '[nova-base]',
      'type = git',
      `location = ${repo}`,
      'reference = main',
      '[nova-base-plugin-blazar]',
      'type = url',
      `location = http://127.0.0.1:${port}/blazar.tar.gz`,
      '',
    ].join('\n'),
  );
  const first = await arborAsync(importArgs('--fetch-sources', ...FETCHED));
  expect(first.code, first.stderr).toBe(0);
  await pushStandIns(client, registry.host, join(project, 'images.yaml'));
});

afterAll(async () => {
  await client?.close();
  if (registry) await destroyRegistry(registry);
  await new Promise((resolve) => server?.close(resolve));
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('import-kolla --fetch-sources', () => {
  it('puts each archive into the context of the image that ADDs it and records what it resolved to', () => {
    const glance = readFileSync(join(project, 'docker', 'glance', 'glance-base', 'glance-base-archive'));
    expect(glance.equals(served.get('/glance.tar.gz')!)).toBe(true);
    expect(lock('glance-base').resolved).toEqual({ sha256: sha256(served.get('/glance.tar.gz')!) });
    expect(lock('nova-base').resolved).toEqual({ commit: gitIn(repo, 'rev-parse', 'HEAD') });
    const listing = execFileSync(
      'tar',
      ['-tf', join(project, 'docker', 'nova', 'nova-base', 'nova-base-archive')],
      {
        encoding: 'utf8',
      },
    );
    expect(listing.split('\n')).toContain('nova-base-archive-main/setup.py');
    expect(listing).not.toContain('.git/');
    const plugins = execFileSync(
      'tar',
      ['-tf', join(project, 'docker', 'nova', 'nova-base', 'plugins-archive')],
      {
        encoding: 'utf8',
      },
    );
    expect(plugins.split('\n')).toContain('plugins/blazar-nova-1.0/setup.py');
  });

  it('a re-import without fetching keeps the archives and every fingerprint', () => {
    const before = fingerprints();
    const again = arbor(importArgs());
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/0 files written, 0 deleted/);
    expect(fingerprints()).toEqual(before);
  });

  it('a new upstream commit rebuilds exactly the images that include it', async () => {
    const before = fingerprints();
    writeFileSync(join(repo, 'setup.py'), 'print("nova 2")\n');
    gitIn(repo, 'commit', '--quiet', '-am', 'two');
    const result = await arborAsync(importArgs('--fetch-sources', 'nova-base'));
    expect(result.code, result.stderr).toBe(0);
    expect(lock('nova-base').resolved).toEqual({ commit: gitIn(repo, 'rev-parse', 'HEAD') });
    expect(changedImages(before, fingerprints())).toEqual(subtree('nova-base'));
  });

  it('a new tarball rebuilds exactly the images that ADD it', async () => {
    const before = fingerprints();
    served.set('/glance.tar.gz', await tarball({ 'glance-1.1/setup.py': 'print(11)\n' }));
    const result = await arborAsync(importArgs('--fetch-sources', 'glance-base'));
    expect(result.code, result.stderr).toBe(0);
    expect(changedImages(before, fingerprints())).toEqual(subtree('glance-base'));
  });

  it('a checksum that does not match stops the import before anything changes', async () => {
    const conf = join(work, 'kolla-build.conf');
    const text = readFileSync(conf, 'utf8');
    writeFileSync(conf, text.replace('[glance-base]\n', `[glance-base]\nsha256 = amd64:${'0'.repeat(64)}\n`));
    const images = readFileSync(join(project, 'images.yaml'), 'utf8');
    const result = await arborAsync(importArgs('--fetch-sources', 'glance-base'));
    writeFileSync(conf, text);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /error: source glance-base \(url http:\/\/127\.0\.0\.1:\d+\/glance\.tar\.gz\): SHA256 checksum does not match/,
    );
    expect(readFileSync(join(project, 'images.yaml'), 'utf8')).toBe(images);
  });
});
