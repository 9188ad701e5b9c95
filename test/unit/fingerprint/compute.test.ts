import { createHash } from 'node:crypto';
import { chmod, cp, readFile, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ArborError } from '../../../src/errors.js';
import { FileHashCache, fileHashCachePath } from '../../../src/fingerprint/cache.js';
import { fingerprintImages } from '../../../src/fingerprint/compute.js';
import type { HashStats } from '../../../src/fingerprint/hash.js';
import {
  fingerprintAll,
  type ImageSpec,
  locationOf,
  makeConfig,
  removeTempDirs,
  request,
  sleep,
  tempDir,
  writeTree,
} from './helpers.js';

afterAll(removeTempDirs);

const DIGEST = `sha256:${'1'.repeat(64)}`;
const sha = (data: string) => `sha256:${createHash('sha256').update(data).digest('hex')}`;

const FAMILY: ImageSpec[] = [
  { name: 'base', from: 'scratch', context: 'images/base' },
  { name: 'tools', parent: 'base', context: 'images/tools' },
  { name: 'svc', parent: 'tools', inputs: { files: ['lists/*.txt'], env: ['PIN'] }, args: { V: '1' } },
  { name: 'other', parent: 'base' },
];

async function family(): Promise<string> {
  const root = await tempDir();
  await writeTree(root, {
    'images/base/rootfs.txt': 'root',
    'images/base/run.sh': { content: '#!/bin/sh\n', mode: 0o755 },
    'images/tools/tool.txt': 'tool',
    'lists/svc.txt': 'pkg==1',
  });
  return root;
}

async function failure(promise: Promise<unknown>): Promise<ArborError> {
  const e = await promise.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ArborError);
  return e as ArborError;
}

describe('fingerprintImages', () => {
  it('gives every image a fingerprint, a tag from it, and the parent reference to build FROM', async () => {
    const root = await family();
    const config = makeConfig(root, FAMILY);
    const result = await fingerprintImages(request(config, { env: { PIN: '7' } }));
    const base = result.get('base')!;
    const tools = result.get('tools')!;
    expect(base.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(base.fingerprintTag).toBe(`fp-${base.fingerprint.slice(7, 31)}`);
    expect(base.parentRef).toBe('scratch');
    expect(tools.parentRef).toBe(`127.0.0.1:5000/test/base:${base.fingerprintTag}`);
    expect(tools.dockerfile).toBe(`FROM ${tools.parentRef}\nRUN echo tools\n`);
    expect(new Set([...result.values()].map((i) => i.fingerprint)).size).toBe(4);
  });

  it('lists every input with its own hash, in canonical order, and the hashed context', async () => {
    const root = await family();
    const config = makeConfig(root, FAMILY);
    const result = await fingerprintImages(request(config, { env: { PIN: '7' } }));
    const svc = result.get('svc')!;
    expect(svc.inputs.map((i) => `${i.kind}:${i.name}`)).toEqual([
      'args:V',
      'dockerfile:-',
      'env:PIN',
      'file:lists/svc.txt',
      'format:-',
      'parent:tools',
      'platforms:-',
    ]);
    // A declared input file's hash is its content's sha256, as sha256sum prints it.
    expect(svc.inputs.find((i) => i.kind === 'file')!.hash).toBe(sha('pkg==1'));
    const base = result.get('base')!;
    expect(base.context.map((f) => [f.path, f.hash])).toEqual([
      ['rootfs.txt', sha('root')],
      ['run.sh', sha('#!/bin/sh\n')],
    ]);
    expect(base.inputs.filter((i) => i.kind === 'context').map((i) => i.name)).toEqual([
      'rootfs.txt',
      'run.sh',
    ]);
  });

  it('does not depend on where the tree is: a copy elsewhere fingerprints the same', async () => {
    const root = await family();
    const copy = await tempDir();
    await cp(root, copy, { recursive: true });
    expect(await fingerprintAll(makeConfig(copy, FAMILY))).toEqual(
      await fingerprintAll(makeConfig(root, FAMILY)),
    );
  });

  it('changes with a chmod of a context file, for the image and its descendants only', async () => {
    const root = await family();
    const config = makeConfig(root, FAMILY);
    const before = await fingerprintAll(config);
    await chmod(path.join(root, 'images/tools/tool.txt'), 0o600);
    const after = await fingerprintAll(config);
    expect(after.get('base')).toBe(before.get('base'));
    expect(after.get('other')).toBe(before.get('other'));
    expect(after.get('tools')).not.toBe(before.get('tools'));
    expect(after.get('svc')).not.toBe(before.get('svc'));
  });

  it('hashes a symlink as a link: its target counts, what it points to does not', async () => {
    const root = await tempDir();
    // data/ is not sent to Docker, so only the links themselves reach the build.
    await writeTree(root, {
      'ctx/.dockerignore': 'data/\n',
      'ctx/data/a': 'A',
      'ctx/data/b': 'B',
      'ctx/ln': { link: 'data/a' },
    });
    const config = makeConfig(root, [{ name: 'x', from: 'scratch', context: 'ctx' }]);
    const first = await fingerprintImages(request(config));
    expect(first.get('x')!.context.map((f) => [f.path, f.type, f.linkTarget])).toEqual([
      ['.dockerignore', 'file', undefined],
      ['ln', 'symlink', 'data/a'],
    ]);
    await writeFile(path.join(root, 'ctx/data/a'), 'A changed');
    expect((await fingerprintAll(config)).get('x')).toBe(first.get('x')!.fingerprint);
    await rm(path.join(root, 'ctx/ln'));
    await symlink('data/b', path.join(root, 'ctx/ln'));
    expect((await fingerprintAll(config)).get('x')).not.toBe(first.get('x')!.fingerprint);
  });

  it('tells an unset environment variable from an empty one, and never exposes the value', async () => {
    const root = await family();
    const config = makeConfig(root, FAMILY);
    const unset = await fingerprintImages(request(config, { env: {} }));
    const empty = await fingerprintImages(request(config, { env: { PIN: '' } }));
    const secret = await fingerprintImages(request(config, { env: { PIN: 'hunter2-value' } }));
    expect(unset.get('svc')!.fingerprint).not.toBe(empty.get('svc')!.fingerprint);
    expect(empty.get('svc')!.fingerprint).not.toBe(secret.get('svc')!.fingerprint);
    expect(unset.get('tools')!.fingerprint).toBe(empty.get('tools')!.fingerprint);
    expect(JSON.stringify([...secret.values()])).not.toContain('hunter2-value');
  });

  it('counts args, labels, platforms, the content fingerprint command and the Dockerfile text', async () => {
    const root = await tempDir();
    const variants: ImageSpec[] = [
      { name: 'x', from: 'scratch' },
      { name: 'x', from: 'scratch', args: { A: '1' } },
      { name: 'x', from: 'scratch', args: { A: '2' } },
      { name: 'x', from: 'scratch', labels: { team: 'a' } },
      { name: 'x', from: 'scratch', platforms: ['linux/amd64'] },
      { name: 'x', from: 'scratch', platforms: ['linux/amd64', 'linux/arm64'] },
      { name: 'x', from: 'scratch', contentFingerprint: { command: 'rpm -qa' } },
    ];
    const prints = await Promise.all(
      variants.map(async (v) => (await fingerprintAll(makeConfig(root, [v]))).get('x')),
    );
    expect(new Set(prints).size).toBe(variants.length);
    const renderedOtherwise = await fingerprintImages(
      request(makeConfig(root, [variants[0]!]), { renderDockerfile: () => 'FROM scratch\nRUN true\n' }),
    );
    expect(renderedOtherwise.get('x')!.fingerprint).not.toBe(prints[0]);
    // Order of args and platforms as written does not matter.
    const swapped = await fingerprintAll(
      makeConfig(root, [
        { name: 'x', from: 'scratch', args: { B: '2', A: '1' }, platforms: ['linux/arm64', 'linux/amd64'] },
      ]),
    );
    const straight = await fingerprintAll(
      makeConfig(root, [
        { name: 'x', from: 'scratch', args: { A: '1', B: '2' }, platforms: ['linux/amd64', 'linux/arm64'] },
      ]),
    );
    expect(swapped).toEqual(straight);
  });

  it('resolves an external base once per reference and builds FROM name@digest', async () => {
    const root = await tempDir();
    const calls: string[] = [];
    const config = makeConfig(root, [
      { name: 'a', from: 'debian:12' },
      { name: 'b', from: 'debian:12' },
      { name: 'c', from: `127.0.0.1:5000/lib/alpine@${DIGEST}` },
      { name: 'd', from: 'scratch' },
    ]);
    const result = await fingerprintImages(
      request(config, {
        resolveBase: async (ref) => {
          calls.push(ref);
          return `sha256:${'2'.repeat(64)}`;
        },
      }),
    );
    expect(calls).toEqual(['debian:12']);
    expect(result.get('a')!.parentRef).toBe(`debian@sha256:${'2'.repeat(64)}`);
    expect(result.get('c')!.parentRef).toBe(`127.0.0.1:5000/lib/alpine@${DIGEST}`);
    expect(result.get('d')!.parentRef).toBe('scratch');
    expect(result.get('a')!.inputs.find((i) => i.kind === 'base')!.name).toBe('debian:12');

    const moved = await fingerprintImages(
      request(config, { resolveBase: async () => `sha256:${'3'.repeat(64)}` }),
    );
    expect(moved.get('a')!.fingerprint).not.toBe(result.get('a')!.fingerprint);
    expect(moved.get('c')!.fingerprint).toBe(result.get('c')!.fingerprint);
  });

  it('reports a failing base resolution at the `from` of every image using it', async () => {
    const root = await tempDir();
    const config = makeConfig(root, [
      { name: 'a', from: 'debian:12' },
      { name: 'b', from: 'not a reference' },
    ]);
    const e = await failure(
      fingerprintImages(
        request(config, {
          resolveBase: async () => {
            throw new Error('registry said 401');
          },
        }),
      ),
    );
    expect(e.diagnostics).toEqual([
      expect.objectContaining({
        image: 'a',
        loc: locationOf(['images', 'a', 'from']),
        message: expect.stringMatching(/cannot resolve base debian:12: registry said 401/),
      }),
      expect.objectContaining({
        image: 'b',
        loc: locationOf(['images', 'b', 'from']),
        message: expect.stringMatching(/invalid reference/),
      }),
    ]);
  });

  it("reports a descendant's own template error in the same run as its parent's", async () => {
    const root = await family();
    const config = makeConfig(root, FAMILY);
    const broken = new Set(['base', 'tools']);
    const e = await failure(
      fingerprintImages(
        request(config, {
          renderDockerfile: (image, parentRef) => {
            if (broken.has(image.name))
              throw new ArborError([{ severity: 'error', message: `template of ${image.name} is broken` }]);
            return `FROM ${parentRef}\n`;
          },
        }),
      ),
    );
    // tools is base's child: it has no fingerprint, yet its own template is rendered (with a
    // stand-in parent) and its error is reported with base's.
    expect(e.diagnostics.map((d) => [d.image, d.message])).toEqual([
      ['base', 'template of base is broken'],
      ['tools', 'template of tools is broken'],
    ]);
  });

  it('reports a glob that matches nothing at its location, with every other problem at once', async () => {
    const root = await family();
    await writeTree(root, { 'ctx/ln': { link: '/etc/passwd' } });
    const config = makeConfig(root, [
      { name: 'a', from: 'scratch', inputs: { files: ['lists/*.txt', 'missing/**/*.lock'], env: [] } },
      { name: 'b', from: 'scratch', context: 'ctx' },
      { name: 'c', parent: 'b' },
    ]);
    const e = await failure(fingerprintImages(request(config)));
    expect(e.diagnostics).toHaveLength(2);
    expect(e.diagnostics[0]).toMatchObject({
      image: 'a',
      loc: locationOf(['images', 'a', 'inputs', 'files', 1]),
      message: 'inputs.files pattern "missing/**/*.lock" matches no file',
    });
    expect(e.diagnostics[1]).toMatchObject({ image: 'b', loc: locationOf(['images', 'b', 'context']) });
    expect(e.message).toMatch(
      /images\.yaml#images\.a\.inputs\.files\.1:1:1: error: image a: inputs\.files pattern/,
    );
  });

  it('refuses an input that is a symlink out of the repository, or a glob reaching outside', async () => {
    const outside = await tempDir();
    await writeTree(outside, { 'secret.txt': 'x', 'repo/lists/ok.txt': 'ok' });
    const root = path.join(outside, 'repo');
    await symlink(path.join(outside, 'secret.txt'), path.join(root, 'lists/leak.txt'));
    const linked = await failure(
      fingerprintImages(
        request(makeConfig(root, [{ name: 'a', from: 'scratch', inputs: { files: ['lists/*'], env: [] } }])),
      ),
    );
    expect(linked.diagnostics[0]!.message).toMatch(
      /input lists\/leak\.txt is a symlink leading out of the repository root/,
    );
    const climbing = await failure(
      fingerprintImages(
        request(makeConfig(root, [{ name: 'a', from: 'scratch', inputs: { files: ['../*.txt'], env: [] } }])),
      ),
    );
    expect(climbing.diagnostics[0]!.message).toMatch(
      /input \.\.\/secret\.txt .* is outside the repository root/,
    );
  });

  it('hashes a context shared by several images once', async () => {
    const root = await family();
    const config = makeConfig(root, [
      { name: 'a', from: 'scratch', context: 'images/base' },
      { name: 'b', from: 'scratch', context: 'images/base' },
      { name: 'c', parent: 'a', context: 'images/base/' },
    ]);
    const stats: HashStats = { filesRead: 0, bytesRead: 0, cacheHits: 0 };
    await fingerprintImages(request(config, { stats }));
    expect(stats).toEqual({ filesRead: 2, bytesRead: 4 + 10, cacheHits: 0 });
  });

  it('reads nothing on a warm run with the file-hash cache, and gives the same fingerprints', async () => {
    const root = await family();
    await sleep(80); // older than the "racily clean" margin, so the files can be cached
    const config = makeConfig(root, FAMILY);
    const coldStats: HashStats = { filesRead: 0, bytesRead: 0, cacheHits: 0 };
    const cold = await FileHashCache.load(fileHashCachePath(root));
    const first = await fingerprintAll(config, { cache: cold, stats: coldStats });
    await cold.save();
    expect(coldStats.filesRead).toBe(4);

    const warmStats: HashStats = { filesRead: 0, bytesRead: 0, cacheHits: 0 };
    const warm = await FileHashCache.load(fileHashCachePath(root));
    expect(await fingerprintAll(config, { cache: warm, stats: warmStats })).toEqual(first);
    expect(warmStats).toEqual({ filesRead: 0, bytesRead: 0, cacheHits: 4 });
  });

  it('uses what the cache says for an unchanged file (so a foreign cache must never be trusted)', async () => {
    const root = await family();
    await sleep(80);
    const config = makeConfig(root, FAMILY);
    const honest = await fingerprintAll(config);
    const cache = await FileHashCache.load(fileHashCachePath(root));
    const file = await realpath(path.join(root, 'images/base/rootfs.txt'));
    cache.set(file, await stat(file, { bigint: true }), `sha256:${'f'.repeat(64)}`);
    await cache.save({ prune: false });
    const lied = await fingerprintAll(config, { cache: await FileHashCache.load(fileHashCachePath(root)) });
    expect(lied.get('base')).not.toBe(honest.get('base'));
    // The same file claiming another host is ignored, and the honest answer comes back.
    const text = await readFile(fileHashCachePath(root), 'utf8');
    await writeFile(fileHashCachePath(root), text.replace(/"host":"[^"]*"/, '"host":"elsewhere"'));
    const foreign = await FileHashCache.load(fileHashCachePath(root));
    expect(foreign.discarded).toMatch(/another host/);
    expect(await fingerprintAll(config, { cache: foreign })).toEqual(honest);
  });
});
