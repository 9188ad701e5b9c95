import { execFileSync } from 'node:child_process';
import { mkdir, symlink } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ArborError } from '../../../src/errors.js';
import { collectContext } from '../../../src/fingerprint/context.js';
import { removeTempDirs, tempDir, writeTree } from './helpers.js';

afterAll(removeTempDirs);

async function contextPaths(tree: Parameters<typeof writeTree>[1]): Promise<string[]> {
  const root = await tempDir();
  await writeTree(root, tree);
  return (await collectContext('ctx', root)).map((f) => f.path);
}

async function contextError(root: string, dir = 'ctx'): Promise<string> {
  const failure = await collectContext(dir, root).then(
    () => null,
    (e: unknown) => e,
  );
  expect(failure).toBeInstanceOf(ArborError);
  return (failure as ArborError).message;
}

describe('collectContext: .dockerignore as Docker applies it', () => {
  it('sends everything, directories included, sorted by path in byte order', async () => {
    expect(
      await contextPaths({
        'ctx/b.txt': 'b',
        'ctx/a/z': 'z',
        'ctx/a/B': 'B',
        'ctx/empty': { dir: true },
        'ctx/Ä': 'x',
      }),
    ).toEqual(['a', 'a/B', 'a/z', 'b.txt', 'empty', 'Ä']);
  });

  it('excludes matches, with `!` exceptions after them', async () => {
    const paths = await contextPaths({
      'ctx/.dockerignore': '# comment\n*.log\n!keep.log\nsecret/\n',
      'ctx/a.log': '',
      'ctx/keep.log': '',
      'ctx/run.sh': '',
      'ctx/secret/key': '',
    });
    expect(paths).toEqual(['.dockerignore', 'keep.log', 'run.sh']);
  });

  it('matches `**` across directories and cleans patterns (leading /, ./, trailing /)', async () => {
    const paths = await contextPaths({
      'ctx/.dockerignore': '**/*.pyc\n/build/\n./docs\n',
      'ctx/x.pyc': '',
      'ctx/a/b/c.pyc': '',
      'ctx/a/b/c.py': '',
      'ctx/build/out': '',
      'ctx/docs/readme': '',
    });
    expect(paths).toEqual(['.dockerignore', 'a', 'a/b', 'a/b/c.py']);
  });

  it('excluding a directory excludes its content; an exception inside it re-includes one file', async () => {
    const paths = await contextPaths({
      'ctx/.dockerignore': 'vendor\n!vendor/keep/me.txt\n',
      'ctx/vendor/keep/me.txt': '',
      'ctx/vendor/keep/other.txt': '',
      'ctx/vendor/drop.txt': '',
    });
    // Docker walks into vendor/ for the exception but does not send the excluded directories.
    expect(paths).toEqual(['.dockerignore', 'vendor/keep/me.txt']);
  });

  it('does not descend into an excluded directory for an exception that does not start with it (Docker)', async () => {
    const paths = await contextPaths({
      'ctx/.dockerignore': 'vendor\n!**/me.txt\n',
      'ctx/vendor/me.txt': '',
      'ctx/me.txt': '',
    });
    expect(paths).toEqual(['.dockerignore', 'me.txt']);
  });

  it('sends what docker 20.10 sent for the same context (checked with a real build and `docker export`)', async () => {
    const paths = await contextPaths({
      'ctx/.dockerignore': 'vendor\n!vendor/keep/me.txt\n!**/me2.txt\n**/*.pyc\n/build/\nREADME\n',
      'ctx/vendor/keep/me.txt': '',
      'ctx/vendor/keep/other.txt': '',
      'ctx/vendor/drop.txt': '',
      'ctx/vendor/me2.txt': '',
      'ctx/me2.txt': '',
      'ctx/a/b/c.pyc': '',
      'ctx/a/b/c.py': '',
      'ctx/build/out': '',
      'ctx/README': '',
      'ctx/readme': '',
      'ctx/emptyd': { dir: true },
    });
    expect(paths).toEqual([
      '.dockerignore',
      'a',
      'a/b',
      'a/b/c.py',
      'emptyd',
      'me2.txt',
      'readme',
      'vendor/keep/me.txt',
      'vendor/me2.txt',
    ]);
  });

  it('is case-sensitive, as Docker on Linux', async () => {
    expect(
      await contextPaths({ 'ctx/.dockerignore': 'README\n', 'ctx/readme': '', 'ctx/README': '' }),
    ).toEqual(['.dockerignore', 'readme']);
  });

  it('always sends .dockerignore itself, as the docker CLI does', async () => {
    expect(
      await contextPaths({ 'ctx/.dockerignore': '.dockerignore\n*\n!a', 'ctx/a': '', 'ctx/b': '' }),
    ).toEqual(['.dockerignore', 'a']);
  });
});

describe('collectContext: entries', () => {
  it('records permission bits of files and directories', async () => {
    const root = await tempDir();
    await writeTree(root, {
      'ctx/run.sh': { content: '#!/bin/sh', mode: 0o755 },
      'ctx/conf': { content: 'x', mode: 0o640 },
      'ctx/d': { dir: true, mode: 0o700 },
    });
    const files = await collectContext('ctx', root);
    expect(files.map((f) => [f.path, f.type, f.mode.toString(8), f.size])).toEqual([
      ['conf', 'file', '640', 1],
      ['d', 'dir', '700', 0],
      ['run.sh', 'file', '755', 9],
    ]);
  });

  it('keeps a symlink as a link with its target, not followed', async () => {
    const root = await tempDir();
    await writeTree(root, {
      'ctx/real/file': 'data',
      'ctx/ln': { link: 'real/file' },
      'ctx/dirlink': { link: 'real' },
    });
    const files = await collectContext('ctx', root);
    expect(files.filter((f) => f.type === 'symlink').map((f) => [f.path, f.linkTarget])).toEqual([
      ['dirlink', 'real'],
      ['ln', 'real/file'],
    ]);
    // A link to a directory is not walked through.
    expect(files.map((f) => f.path)).not.toContain('dirlink/file');
  });

  it('accepts a dangling link that stays inside the context', async () => {
    const root = await tempDir();
    await writeTree(root, { 'ctx/a/ln': { link: '../missing/x' } });
    expect((await collectContext('ctx', root)).map((f) => f.path)).toEqual(['a', 'a/ln']);
  });

  it('never includes arbor’s own cache directory', async () => {
    const root = await tempDir();
    await writeTree(root, { 'app.txt': 'x', '.arbor/cache/file-hashes.json': '{}' });
    expect((await collectContext('.', root)).map((f) => f.path)).toEqual(['app.txt']);
  });

  it('skips excluded special files but refuses a FIFO that would be sent', async () => {
    const root = await tempDir();
    await writeTree(root, { 'ctx/.dockerignore': 'skipped.fifo\n' });
    execFileSync('mkfifo', [path.join(root, 'ctx/skipped.fifo'), path.join(root, 'ctx/sent.fifo')]);
    expect(await contextError(root)).toMatch(/ctx\/sent\.fifo is a special file/);
  });
});

describe('collectContext: escapes are errors naming the path', () => {
  it('a link to an absolute path', async () => {
    const root = await tempDir();
    await writeTree(root, { 'ctx/ln': { link: '/etc/passwd' } });
    expect(await contextError(root)).toMatch(/symlink ctx\/ln points to the absolute path \/etc\/passwd/);
  });

  it('a link climbing above the context', async () => {
    const root = await tempDir();
    await writeTree(root, { 'ctx/sub/ln': { link: '../../outside' }, outside: 'x' });
    expect(await contextError(root)).toMatch(/symlink ctx\/sub\/ln points outside/);
  });

  it('a link that looks inside but resolves out through another link', async () => {
    const root = await tempDir();
    await writeTree(root, { 'ctx/sub/up': { link: '..' }, 'ctx/sneaky': { link: 'sub/up/..' } });
    expect(await contextError(root)).toMatch(/symlink ctx\/sneaky points outside/);
  });

  it('a link loop', async () => {
    const root = await tempDir();
    await writeTree(root, { 'ctx/a': { link: 'b/x' }, 'ctx/b': { link: 'a' } });
    expect(await contextError(root)).toMatch(/symlink loop/);
  });

  it('reports every escaping link at once', async () => {
    const root = await tempDir();
    await writeTree(root, { 'ctx/one': { link: '/x' }, 'ctx/two': { link: '../y' } });
    const message = await contextError(root);
    expect(message).toMatch(/ctx\/one/);
    expect(message).toMatch(/ctx\/two/);
  });

  it('a context path outside the repository root', async () => {
    const root = await tempDir();
    await mkdir(path.join(root, 'repo'));
    expect(await contextError(path.join(root, 'repo'), '../')).toMatch(
      /context \.\.\/ escapes the repository root/,
    );
    expect(await contextError(path.join(root, 'repo'), '/etc')).toMatch(
      /context \/etc escapes the repository root/,
    );
  });

  it('a context directory that is a symlink out of the repository root', async () => {
    const root = await tempDir();
    await mkdir(path.join(root, 'repo'));
    await mkdir(path.join(root, 'elsewhere'));
    await symlink('../elsewhere', path.join(root, 'repo/ctx'));
    expect(await contextError(path.join(root, 'repo'))).toMatch(
      /context ctx is a symlink leading out of the repository root/,
    );
  });

  it('a missing context directory', async () => {
    const root = await tempDir();
    expect(await contextError(root)).toMatch(/context directory ctx does not exist/);
  });
});
