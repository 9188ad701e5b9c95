// arbor unpack on the default tree, built by arbor apply into a real registry: every flat tree
// equals `docker export` of the same image; files are stored once across images; a re-run
// touches nothing and a new release unpacks only its new layers.
import { existsSync, lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arbor, BIN } from '../support/cli.js';
import { requireEngine } from '../support/engine.js';
import { exportedTree } from '../support/export.js';
import { startFaultProxy } from '../support/fault-proxy.js';
import { compareWithExport, describeDir } from '../support/fs-tree.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { copyDefaultTree, removeLocalImages, requestsSince, type TreeCopy } from '../support/tree.js';

/** The tree's images, in its order (read from the tree, so the test follows any change to it). */
let ALL: string[] = [];

let registry: TestRegistry;
let tree: TreeCopy;
let out: string;

beforeAll(async () => {
  requireEngine();
  registry = await startRegistry();
  tree = await copyDefaultTree(registry.host);
  out = await mkdtemp(path.join(tmpdir(), 'arbor-unpack-'));
  const fingerprints = run('fingerprint', '--format', 'json');
  expect(fingerprints.code, fingerprints.stderr).toBe(0);
  ALL = (JSON.parse(fingerprints.stdout) as { images: { name: string }[] }).images.map((i) => i.name);
  expect(ALL.length).toBeGreaterThan(5);
  const applied = run('apply', '--auto-approve', '--concurrency', '2');
  expect(applied.code, applied.stderr).toBe(0);
});

afterAll(async () => {
  if (registry) removeLocalImages(registry.host);
  await tree?.remove();
  if (out) await rm(out, { recursive: true, force: true });
  if (registry) await destroyRegistry(registry);
});

const run = (...args: string[]) => arbor([...args, '-f', tree.file], { cwd: tree.dir });

const publicPath = (name: string, tag = '2025.1') =>
  path.join(out, registry.host, 'arbor-demo', `${name}:${tag}`);

async function blobGetsSince(mark: number): Promise<string[]> {
  return requestsSince(await registry.log(), mark, /"GET \/v2\/[^"]*\/blobs\/sha256:/);
}

describe('arbor unpack on the default tree', () => {
  it('unpacks every image at its first tag into a flat tree equal to docker export', async () => {
    const result = run('unpack', '--out', out);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(
      `Unpack: ${ALL.length} images (${ALL.length} unpacked, 0 unchanged, 0 failed)`,
    );
    for (const name of ALL) {
      const link = publicPath(name);
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect(readlinkSync(link)).toMatch(/^\.\.\/\.\.\/\.flat\/[0-9a-f]{2}\/[0-9a-f]{64}$/);
      const exported = await exportedTree(`${registry.host}/arbor-demo/${name}:2025.1`);
      expect(exported.size).toBeGreaterThan(5);
      expect(compareWithExport(describeDir(link), exported), name).toEqual([]);
      const meta = JSON.parse(
        readFileSync(
          path.join(out, '.metadata', registry.host, 'arbor-demo', `${name}:2025.1`, 'image.json'),
          'utf8',
        ),
      );
      expect(meta.reference).toBe(`${registry.host}/arbor-demo/${name}:2025.1`);
      expect(existsSync(path.join(out, meta.flat))).toBe(true);
    }
  });

  it('stores each file once: busybox is one inode in every image', () => {
    const inodes = new Set(ALL.map((name) => statSync(path.join(publicPath(name), 'bin', 'busybox')).ino));
    expect(inodes.size).toBe(1);
    const st = statSync(path.join(publicPath('keystone'), 'bin', 'busybox'));
    expect(st.nlink).toBeGreaterThan(ALL.length);
  });

  it('does nothing on a re-run: every image unchanged, no blob read', async () => {
    const mark = (await registry.log()).length;
    const result = run('unpack', '--out', out, '--format', 'json');
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.images.map((i: { status: string }) => i.status)).toEqual(ALL.map(() => 'unchanged'));
    expect(report.chainsBuilt).toBe(0);
    expect(await blobGetsSince(mark)).toEqual([]);
  });

  it('after a new release, unpacks only the new layers of the changed images', async () => {
    // A file of nova-base's build context: its COPY layer changes, so do the layers above it.
    await tree.append('images/nova-base/nova.conf', '[oslo_messaging]\nrpc_response_timeout = 61\n');
    const applied = run('apply', '--auto-approve');
    expect(applied.code, applied.stderr).toBe(0);
    const mark = (await registry.log()).length;
    const result = run('unpack', '--out', out, '--format', 'json');
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout);
    const status = Object.fromEntries(
      report.images.map((i: { reference: string; status: string }) => [
        i.reference.split('/').pop(),
        i.status,
      ]),
    );
    for (const name of ALL)
      expect(status[`${name}:2025.1`], name).toBe(name.startsWith('nova') ? 'unpacked' : 'unchanged');
    // Only layers above openstack-base changed: each new chain cost exactly one layer download,
    // and each changed image one config read.
    expect((await blobGetsSince(mark)).length).toBe(report.layersDownloaded + 3);
    expect(report.layersDownloaded).toBe(report.chainsBuilt);
    expect(report.chainsBuilt).toBeGreaterThan(0);
    expect(report.chainsBuilt).toBeLessThanOrEqual(5);
    const exported = await exportedTree(`${registry.host}/arbor-demo/nova-api:2025.1`);
    expect(compareWithExport(describeDir(publicPath('nova-api')), exported)).toEqual([]);
  });

  it('a layer download cut in the middle goes on from where it broke: the same tree', async () => {
    const front = await startFaultProxy(registry.port);
    const elsewhere = await mkdtemp(path.join(tmpdir(), 'arbor-unpack-cut-'));
    try {
      front.chaos({
        seed: 5,
        cutRate: 0.5,
        cutFirst: { answers: 2 },
        match: (method, url) => method === 'GET' && url.includes('/blobs/sha256:'),
      });
      const cut = await execa(
        process.execPath,
        [BIN, 'unpack', '--out', elsewhere, `${front.host}/arbor-demo/cron:2025.1`, '--insecure'],
        { env: { NO_COLOR: '1' }, reject: false },
      );
      expect(cut.exitCode, `${cut.stdout}\n${cut.stderr}`).toBe(0);
      expect(front.injected.cut).toBeGreaterThan(0);
      // Every file, link and directory with its metadata and content, as the uncut unpack made it.
      expect(describeDir(path.join(elsewhere, front.host, 'arbor-demo', 'cron:2025.1'))).toEqual(
        describeDir(publicPath('cron')),
      );
    } finally {
      await front.stop();
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('unpacks a selection at a given tag, and refuses an unknown image before writing anything', async () => {
    const selected = run(
      'unpack',
      '--out',
      out,
      '--only',
      'keystone',
      'cron',
      '--tag',
      '2025.1-p5',
      '--format',
      'json',
    );
    expect(selected.code, selected.stderr).toBe(0);
    const report = JSON.parse(selected.stdout);
    expect(report.images.map((i: { reference: string }) => i.reference).sort()).toEqual([
      `${registry.host}/arbor-demo/cron:2025.1-p5`,
      `${registry.host}/arbor-demo/keystone:2025.1-p5`,
    ]);
    // Same content as 2025.1: no chain to build.
    expect(report.chainsBuilt).toBe(0);
    expect(readlinkSync(publicPath('keystone', '2025.1-p5'))).toBe(readlinkSync(publicPath('keystone')));

    const unknown = run('unpack', '--out', path.join(out, 'never'), '--only', 'keystne');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('keystne');
    expect(existsSync(path.join(out, 'never'))).toBe(false);

    // A platform the (single-platform) images are not: refused, nothing written.
    const other = run(
      'unpack',
      '--out',
      path.join(out, 'never'),
      '--only',
      'cron',
      '--platform',
      'linux/s390x',
    );
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/cron:\S+ is a linux\/amd64 image, not linux\/s390x/);
    expect(existsSync(path.join(out, 'never'))).toBe(false);
  });
});
