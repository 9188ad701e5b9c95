import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDir } from '../../src/ensure-dir.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ensure-dir-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('ensureDir', () => {
  it('creates the directory with its missing parents, and accepts one that exists', async () => {
    const deep = join(dir, 'a', 'b', 'c');
    await ensureDir(deep);
    await ensureDir(deep);
    expect((await stat(deep)).isDirectory()).toBe(true);
  });

  it('refuses a path through a file, and a file system that creates nothing (procfs), instead of looping', async () => {
    await writeFile(join(dir, 'file'), 'x');
    await expect(ensureDir(join(dir, 'file', 'sub'))).rejects.toMatchObject({ code: 'ENOTDIR' });
    await expect(ensureDir(join(dir, 'file'))).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(ensureDir('/proc/arbor-nope/deeper')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
