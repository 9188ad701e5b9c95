// arbor unpack on layers written entry by entry: whiteouts after their siblings, opaque markers
// before and after theirs, file → directory → file swaps, hard links, symlinks that point out of
// the root (kept as links), deep paths, modes and owners — the flat tree must equal what
// `docker export` gives for the same image. Malicious layers: an error naming the entry, and
// nothing written outside the output directory. Also DUCC recipes and overlayfs whiteouts.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { arbor, BIN } from '../support/cli.js';
import { type CraftedEntry, layerTar, pushCrafted, pushLayerTars } from '../support/crafted-image.js';
import { requireEngine } from '../support/engine.js';
import { exportedTree } from '../support/export.js';
import { compareWithExport, describeDir } from '../support/fs-tree.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { removeLocalImages } from '../support/tree.js';

let registry: TestRegistry;
let client: RegistryClient;
let work: string;

const DEEP = Array.from({ length: 24 }, (_, i) => `level-${String(i).padStart(2, '0')}-of-a-long-path`).join(
  '/',
);

const L1: CraftedEntry[] = [
  { name: 'conf/', type: 'directory' },
  { name: 'conf/a', content: 'a1' },
  { name: 'conf/b', content: 'b1' },
  { name: 'conf/sub/', type: 'directory' },
  { name: 'conf/sub/c', content: 'c1' },
  { name: 'opq/', type: 'directory' },
  { name: 'opq/old1', content: 'o1' },
  { name: 'opq/keep/', type: 'directory' },
  { name: 'opq/keep/old2', content: 'o2' },
  { name: 'opq2/', type: 'directory' },
  { name: 'opq2/x', content: 'x' },
  { name: 'p', content: 'p is a file' },
  { name: 'q/', type: 'directory' },
  { name: 'q/r', content: 'r' },
  { name: 'esc', type: 'symlink', linkname: '../../../../../../etc' },
  { name: 'abs', type: 'symlink', linkname: '/etc/passwd' },
  { name: 'victim', type: 'symlink', linkname: 'conf/a' },
  { name: 'modes/', type: 'directory', mode: 0o700, uid: 42, gid: 43 },
  { name: 'modes/suid', content: 'setuid', mode: 0o4755, uid: 1000, gid: 1000 },
  { name: 'modes/private', content: 'p', mode: 0o600, uid: 1000, gid: 1001 },
  { name: 'sticky/', type: 'directory', mode: 0o1777 },
  { name: 'same-a', content: 'identical content' },
];

const L2: CraftedEntry[] = [
  { name: 'conf/', type: 'directory' },
  { name: 'conf/z', content: 'z2' },
  { name: 'conf/.wh.a' },
  { name: 'conf/sub/', type: 'directory' },
  { name: 'conf/sub/.wh.c' },
  { name: 'conf/b', content: 'b2' },
  { name: 'opq/', type: 'directory' },
  { name: 'opq/new', content: 'n' },
  { name: 'opq/keep/', type: 'directory' },
  { name: 'opq/keep/new2', content: 'n2' },
  { name: 'opq/.wh..wh..opq' },
  { name: 'opq2/', type: 'directory' },
  { name: 'opq2/.wh..wh..opq' },
  { name: 'opq2/y', content: 'y' },
  { name: 'p/', type: 'directory', mode: 0o750 },
  { name: 'p/s', content: 's' },
  { name: 'q', content: 'q is a file now' },
  { name: 'h', content: 'linked', mode: 0o640, uid: 7 },
  // Builders write a hard link's header with its target's attributes (same inode).
  { name: 'h2', type: 'link', linkname: 'h', mode: 0o640, uid: 7 },
  { name: 'abs2', type: 'symlink', linkname: '/etc/shadow' },
  { name: 'hl-sym', type: 'link', linkname: 'abs2' },
  { name: 'victim', content: 'a file replaces the symlink, never written through it' },
  { name: 'same-b', content: 'identical content' },
  { name: `${DEEP}/`, type: 'directory' },
  { name: `${DEEP}/bottom.txt`, content: 'deep' },
];

const L3: CraftedEntry[] = [
  { name: 'p', content: 'p is a file again' },
  { name: 'q/', type: 'directory', mode: 0o711 },
  { name: 'q/t', content: 't' },
  { name: '.wh.esc' },
  { name: 'pipe', type: 'fifo', mode: 0o620 },
];

beforeAll(async () => {
  requireEngine();
  registry = await startRegistry();
  client = createRegistryClient({ registry: registry.host, insecure: true });
  work = await mkdtemp(path.join(tmpdir(), 'arbor-unpack-crafted-'));
});

afterAll(async () => {
  await client?.close();
  if (registry) removeLocalImages(registry.host);
  if (work) await rm(work, { recursive: true, force: true });
  if (registry) await destroyRegistry(registry);
});

const unpack = (...args: string[]) => arbor(['unpack', ...args]);

describe('crafted layers', () => {
  it('applies whiteouts, opaque dirs, swaps, links, deep paths and modes exactly as docker export shows them', async () => {
    await pushCrafted(client, 'crafted/layers', '1', [L1, L2, L3]);
    const out = path.join(work, 'out');
    const result = unpack('--out', out, '--insecure', `${registry.host}/crafted/layers:1`);
    expect(result.code, result.stderr).toBe(0);
    const flat = path.join(out, registry.host, 'crafted', 'layers:1');
    const mine = describeDir(flat);
    expect(compareWithExport(mine, await exportedTree(`${registry.host}/crafted/layers:1`))).toEqual([]);
    // The decisive paths, stated outright (so the test means something even if the engine changed).
    expect([...mine.keys()].filter((p) => p.startsWith('opq')).sort()).toEqual([
      'opq',
      'opq/keep',
      'opq/keep/new2',
      'opq/new',
      'opq2',
      'opq2/y',
    ]);
    expect(mine.has('conf/a')).toBe(false);
    expect(mine.has('conf/sub/c')).toBe(false);
    expect(mine.get('conf/z')?.type).toBe('file');
    expect(mine.get('p')?.type).toBe('file');
    expect(mine.get('q')).toMatchObject({ type: 'dir', mode: 0o711 });
    expect(mine.get('modes/suid')).toMatchObject({ mode: 0o4755, uid: 1000, gid: 1000 });
    expect(mine.get('abs')).toMatchObject({ type: 'symlink', target: '/etc/passwd' });
    expect(mine.get('pipe')?.type).toBe('fifo');
    expect(mine.has(`${DEEP}/bottom.txt`)).toBe(true);
    // Same content, mode and owner: one inode.
    expect(lstatSync(path.join(flat, 'same-a')).ino).toBe(lstatSync(path.join(flat, 'same-b')).ino);
    // Hard links of one layer are one inode too.
    expect(lstatSync(path.join(flat, 'h')).ino).toBe(lstatSync(path.join(flat, 'h2')).ino);
    // Every layer keeps its own directory, whiteouts as the tar has them.
    const layerDirs = readdirSync(path.join(out, '.layers')).flatMap((hh) =>
      readdirSync(path.join(out, '.layers', hh)).map((hex) => path.join(out, '.layers', hh, hex, 'layerfs')),
    );
    expect(layerDirs).toHaveLength(3);
    expect(layerDirs.some((d) => existsSync(path.join(d, 'conf', '.wh.a')))).toBe(true);
  });

  it('writes overlayfs whiteouts into layer directories when asked', () => {
    const out = path.join(work, 'overlay');
    const result = unpack(
      '--out',
      out,
      '--insecure',
      '--overlay-whiteouts',
      `${registry.host}/crafted/layers:1`,
    );
    expect(result.code, result.stderr).toBe(0);
    const layerfs = readdirSync(path.join(out, '.layers')).flatMap((hh) =>
      readdirSync(path.join(out, '.layers', hh)).map((hex) => path.join(out, '.layers', hh, hex, 'layerfs')),
    );
    const second = layerfs.find((d) => existsSync(path.join(d, 'opq', 'new')))!;
    const whiteout = lstatSync(path.join(second, 'conf', 'a'));
    expect(whiteout.isCharacterDevice()).toBe(true);
    expect(whiteout.rdev).toBe(0);
    expect(existsSync(path.join(second, 'conf', '.wh.a'))).toBe(false);
    const opaque = execFileSync(
      'getfattr',
      ['--only-values', '-n', 'trusted.overlay.opaque', path.join(second, 'opq')],
      {
        encoding: 'utf8',
      },
    );
    expect(opaque).toBe('y');
  });
});

describe('malicious layers', () => {
  const outside = () => path.join(work, 'outside');
  const cases: { repo: string; layers: (dir: string) => CraftedEntry[][]; entry: string; reason: RegExp }[] =
    [
      {
        repo: 'evil/dotdot',
        layers: () => [[{ name: '../escaped', content: 'x' }]],
        entry: '../escaped',
        reason: /contains "\.\."/,
      },
      {
        repo: 'evil/absolute',
        layers: () => [[{ name: '/abs-file', content: 'x' }]],
        entry: '/abs-file',
        reason: /absolute path/,
      },
      {
        repo: 'evil/through-symlink',
        layers: (dir) => [
          [{ name: 'link', type: 'symlink', linkname: dir }],
          [{ name: 'link/owned', content: 'pwned' }],
        ],
        entry: 'link/owned',
        reason: /writes through the symlink "link"/,
      },
      {
        repo: 'evil/hardlink-out',
        layers: () => [[{ name: 'hl', type: 'link', linkname: '../../../../etc/passwd' }]],
        entry: 'hl',
        reason: /hard link whose target .* contains "\.\."/,
      },
      {
        repo: 'evil/whiteout-parent',
        layers: () => [[{ name: 'd/', type: 'directory' }, { name: 'd/.wh...' }]],
        entry: 'd/.wh...',
        reason: /would delete outside its directory/,
      },
    ];

  it('an image with a layer this machine cannot read fails alone: the others are unpacked', async () => {
    await pushLayerTars(
      client,
      'odd/lz4',
      '1',
      [await layerTar([{ name: 'x', content: 'y' }])],
      'application/vnd.example.image.layer.v1.tar+lz4',
    );
    await pushCrafted(client, 'good/two', '1', [[{ name: 'ok', content: 'fine' }]]);
    const out = path.join(work, 'odd-out');
    const result = unpack(
      '--out',
      out,
      '--insecure',
      `${registry.host}/odd/lz4:1`,
      `${registry.host}/good/two:1`,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/odd\/lz4:1: layer sha256:[0-9a-f]{64}: unknown layer media type/);
    expect(readFileSync(path.join(out, registry.host, 'good', 'two:1', 'ok'), 'utf8')).toBe('fine');
    expect(existsSync(path.join(out, registry.host, 'odd', 'lz4:1'))).toBe(false);
  });

  it('refuses each with the entry named, writes nothing outside OUT, and still unpacks the good image', async () => {
    mkdirSync(outside());
    writeFileSync(path.join(outside(), 'sentinel'), 'untouched');
    for (const c of cases) await pushCrafted(client, c.repo, '1', c.layers(outside()));
    await pushCrafted(client, 'good/one', '1', [[{ name: 'ok', content: 'fine' }]]);
    const out = path.join(work, 'evil-out');
    const result = unpack(
      '--out',
      out,
      '--insecure',
      ...cases.map((c) => `${registry.host}/${c.repo}:1`),
      `${registry.host}/good/one:1`,
    );
    expect(result.code).toBe(1);
    for (const c of cases) {
      const line = result.stderr.split('\n').find((l) => l.includes(`${c.repo}:1`));
      expect(line, c.repo).toBeDefined();
      expect(line).toContain(`entry "${c.entry}"`);
      expect(line).toMatch(c.reason);
      expect(existsSync(path.join(out, registry.host, `${c.repo}:1`))).toBe(false);
    }
    expect(readdirSync(outside())).toEqual(['sentinel']);
    expect(readFileSync(path.join(outside(), 'sentinel'), 'utf8')).toBe('untouched');
    expect(existsSync(path.join(work, 'escaped'))).toBe(false);
    expect(existsSync('/abs-file')).toBe(false);
    expect(readFileSync(path.join(out, registry.host, 'good', 'one:1', 'ok'), 'utf8')).toBe('fine');
    // Nothing half-done is left behind: no work directory survives the run.
    expect(readdirSync(path.join(out, '.tmp'))).toEqual([]);
  });
});

/** A path below `dir` named by the bytes of a latin1 string (names that are not UTF-8). */
const bytesPath = (dir: string, name: string) =>
  Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(name, 'latin1')]);

/** A layer as GNU tar writes it from the files of `dir` (PAX format, extended attributes, sparse files). */
function gnuTar(dir: string, args: string[] = []): Buffer {
  return execFileSync(
    'tar',
    [
      '--format=posix',
      '--xattrs',
      '--xattrs-include=*',
      '--numeric-owner',
      ...args,
      '-C',
      dir,
      '-cf',
      '-',
      '.',
    ],
    { maxBuffer: 64 << 20 },
  );
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('the layer’s own bytes', () => {
  it('keeps names that are not UTF-8, binary extended attributes and PAX sparse files exactly', async () => {
    const lower = path.join(work, 'bytes-lower');
    mkdirSync(lower);
    writeFileSync(bytesPath(lower, 'bad-\xff'), 'A: 0xff');
    writeFileSync(bytesPath(lower, 'bad-\xfe'), 'B: 0xfe');
    writeFileSync(bytesPath(lower, 'n-\xff'), 'not UTF-8');
    writeFileSync(path.join(lower, 'n-\ufffd'), 'a real U+FFFD');
    symlinkSync(Buffer.from('bad-\xfe', 'latin1'), bytesPath(lower, 'link-\xfe'));
    const capfile = path.join(lower, 'capfile');
    writeFileSync(capfile, '#!/bin/sh\n', { mode: 0o755 });
    const capability = '0x0100000280000000000000000000000000000000';
    execFileSync('setfattr', ['-n', 'security.capability', '-v', capability, capfile]);
    execFileSync('setfattr', ['-n', 'user.bin', '-v', '0xfffe0001', capfile]);
    const fd = openSync(path.join(lower, 'sparse'), 'w');
    writeSync(fd, 'start', 0);
    writeSync(fd, 'end', 10 * 1024 * 1024);
    const upper = path.join(work, 'bytes-upper');
    mkdirSync(upper);
    writeFileSync(bytesPath(upper, '.wh.n-\xff'), '');
    const layers = [gnuTar(lower, ['--sparse', '--sparse-version=1.0']), gnuTar(upper)];
    await pushLayerTars(client, 'bytes/names', '1', layers);

    const out = path.join(work, 'bytes-out');
    const result = unpack('--out', out, '--insecure', `${registry.host}/bytes/names:1`);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/not kept|skipped/);
    const flat = path.join(out, registry.host, 'bytes', 'names:1');
    const names = readdirSync(flat, { encoding: 'buffer' }).map((n) => n.toString('latin1'));
    expect(names.sort()).toEqual(
      [
        'bad-\xfe',
        'bad-\xff',
        'capfile',
        'link-\xfe',
        Buffer.from('n-\ufffd').toString('latin1'),
        'sparse',
      ].sort(),
    );
    expect(readFileSync(bytesPath(flat, 'bad-\xff'), 'utf8')).toBe('A: 0xff');
    expect(readFileSync(bytesPath(flat, 'bad-\xfe'), 'utf8')).toBe('B: 0xfe');
    // The whiteout of n-\xff deleted that name only.
    expect(readFileSync(path.join(flat, 'n-\ufffd'), 'utf8')).toBe('a real U+FFFD');
    expect(readlinkSync(bytesPath(flat, 'link-\xfe'), { encoding: 'buffer' })).toEqual(
      Buffer.from('bad-\xfe', 'latin1'),
    );
    const xattr = (name: string) =>
      execFileSync('getfattr', ['--absolute-names', '-e', 'hex', '-n', name, path.join(flat, 'capfile')], {
        encoding: 'utf8',
      })
        .split('\n')
        .find((l) => l.startsWith(`${name}=`))
        ?.slice(name.length + 1);
    expect(xattr('security.capability')).toBe(capability);
    expect(xattr('user.bin')).toBe('0xfffe0001');
    const sparse = readFileSync(path.join(flat, 'sparse'));
    expect(sparse.length).toBe(10 * 1024 * 1024 + 3);
    expect(sha256(sparse)).toBe(sha256(readFileSync(path.join(lower, 'sparse'))));
  });

  it('expands PAX sparse files of versions 0.0, 0.1 and 1.0 as docker export does', async () => {
    const layers = ['0.0', '0.1', '1.0'].map((version) => {
      const dir = path.join(work, `sparse-${version}`);
      mkdirSync(dir);
      const fd = openSync(path.join(dir, `sparse-${version}`), 'w');
      writeSync(fd, `start ${version}`, 0);
      writeSync(fd, 'middle', 4 * 1024 * 1024);
      writeSync(fd, 'end', 10 * 1024 * 1024);
      return gnuTar(dir, ['--sparse', `--sparse-version=${version}`]);
    });
    expect(Math.max(...layers.map((l) => l.length))).toBeLessThan(64 * 1024);
    await pushLayerTars(client, 'bytes/sparse', '1', layers);
    const out = path.join(work, 'sparse-out');
    const result = unpack('--out', out, '--insecure', `${registry.host}/bytes/sparse:1`);
    expect(result.code, result.stderr).toBe(0);
    const flat = path.join(out, registry.host, 'bytes', 'sparse:1');
    const mine = describeDir(flat);
    expect([...mine.keys()].sort()).toEqual(['sparse-0.0', 'sparse-0.1', 'sparse-1.0']);
    for (const version of ['0.0', '0.1', '1.0'])
      expect(sha256(readFileSync(path.join(flat, `sparse-${version}`))), version).toBe(
        sha256(readFileSync(path.join(work, `sparse-${version}`, `sparse-${version}`))),
      );
    expect(compareWithExport(mine, await exportedTree(`${registry.host}/bytes/sparse:1`))).toEqual([]);
  });

  it('refuses what it cannot unpack exactly, naming the layer, the entry and the reason', async () => {
    const gnuSparse = path.join(work, 'gnu-sparse');
    mkdirSync(gnuSparse);
    const fd = openSync(path.join(gnuSparse, 'sparse'), 'w');
    writeSync(fd, 'end', 1024 * 1024);
    const gnuLayer = execFileSync('tar', ['--sparse', '--format=gnu', '-C', gnuSparse, '-cf', '-', 'sparse']);
    const cases = [
      {
        repo: 'refuse/gnu-sparse',
        layer: (await pushLayerTars(client, 'refuse/gnu-sparse', '1', [gnuLayer])).layers[0],
        entry: 'sparse',
        reason: /has tar type 'S' \(a GNU old-style sparse file\)/,
      },
      {
        repo: 'refuse/empty-symlink',
        layer: (
          await pushCrafted(client, 'refuse/empty-symlink', '1', [
            [
              { name: 'ok', content: 'ok' },
              { name: 'empty', type: 'symlink', linkname: '' },
            ],
          ])
        ).layers[0],
        entry: 'empty',
        reason: /symlink with an empty target/,
      },
      {
        repo: 'refuse/long-name',
        layer: (
          await pushCrafted(client, 'refuse/long-name', '1', [[{ name: 'c'.repeat(256), content: 'x' }]])
        ).layers[0],
        entry: 'c'.repeat(256),
        reason: /longer than 255 bytes/,
      },
    ];
    const out = path.join(work, 'refuse-out');
    const result = unpack('--out', out, '--insecure', ...cases.map((c) => `${registry.host}/${c.repo}:1`));
    expect(result.code).toBe(1);
    expect(result.stderr).not.toContain('.tmp');
    for (const c of cases) {
      const line = result.stderr.split('\n').find((l) => l.includes(`${c.repo}:1`));
      expect(line, c.repo).toContain(`layer ${c.layer}: entry "${c.entry}" `);
      expect(line).toMatch(c.reason);
      expect(existsSync(path.join(out, registry.host, `${c.repo}:1`))).toBe(false);
    }
  });

  it('removes its own work directory when interrupted', async () => {
    const many: CraftedEntry[] = Array.from({ length: 4000 }, (_, i) => ({
      name: `f/${i}`,
      content: `file ${i}`,
    }));
    await pushCrafted(client, 'interrupt/many', '1', [many]);
    const out = path.join(work, 'interrupt-out');
    const child = spawn(
      process.execPath,
      [BIN, 'unpack', '--out', out, '--insecure', `${registry.host}/interrupt/many:1`],
      {
        stdio: 'ignore',
      },
    );
    const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
      child.on('exit', (code, signal) => resolve(signal ?? code)),
    );
    const tmp = path.join(out, '.tmp');
    for (
      let i = 0;
      i < 1000 && !(existsSync(tmp) && readdirSync(tmp).some((n) => n.startsWith(`${child.pid}-`)));
      i++
    )
      await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGINT');
    expect(await exited).toBe('SIGINT');
    expect(readdirSync(tmp)).toEqual([]);
    expect(readdirSync(path.join(out, '.store', '.tmp'))).toEqual([]);
    expect(existsSync(path.join(out, registry.host, 'interrupt', 'many:1'))).toBe(false);
  });
});

describe('DUCC recipes', () => {
  it('unpacks the images of a recipe (tag patterns included) and records the thin-image name', async () => {
    await pushCrafted(client, 'recipe/app', '1.0', [[{ name: 'v', content: '1.0' }]]);
    await pushCrafted(client, 'recipe/app', '1.1', [[{ name: 'v', content: '1.1' }]]);
    await pushCrafted(client, 'recipe/app', '2.0', [[{ name: 'v', content: '2.0' }]]);
    const recipe = path.join(work, 'recipe.yaml');
    writeFileSync(
      recipe,
      [
        'version: 1',
        'user: smosciat',
        'cvmfs_repo: unpacked.cern.ch',
        "output_format: '$(scheme)://registry.example.org/thin/$(image)'",
        'input:',
        `  - 'http://${registry.host}/recipe/app:1.*'`,
        `  - 'http://${registry.host}/recipe/app:2.0'`,
        '',
      ].join('\n'),
    );
    const out = path.join(work, 'recipe-out');
    const result = unpack('--out', out, '--recipe', recipe, '--format', 'json');
    expect(result.code, result.stderr).toBe(0);
    for (const tag of ['1.0', '1.1', '2.0'])
      expect(readFileSync(path.join(out, registry.host, 'recipe', `app:${tag}`, 'v'), 'utf8')).toBe(tag);
    const meta = JSON.parse(
      readFileSync(path.join(out, '.metadata', registry.host, 'recipe', 'app:2.0', 'image.json'), 'utf8'),
    );
    expect(meta.outputName).toBe('http://registry.example.org/thin/recipe/app:2.0');
    expect(meta.origin).toMatch(/recipe\.yaml:7:5$/);
  });

  it('reports every mistake of a recipe with file:line:col and writes nothing', () => {
    const recipe = path.join(work, 'bad-recipe.yaml');
    writeFileSync(
      recipe,
      ['version: 2', "output_format: '$(imag)'", 'input:', "  - 'http://no-repository'", ''].join('\n'),
    );
    const out = path.join(work, 'bad-out');
    const result = unpack('--out', out, '--recipe', recipe);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/bad-recipe\.yaml:1:10: error: version must be 1/);
    expect(result.stderr).toMatch(/bad-recipe\.yaml:2:16: error: output_format: unknown variable \$\(imag\)/);
    expect(result.stderr).toMatch(/bad-recipe\.yaml:4:5: error: invalid image "http:\/\/no-repository"/);
    expect(existsSync(out)).toBe(false);
  });
});
