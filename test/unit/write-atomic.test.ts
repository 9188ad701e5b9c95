// writeFileAtomic: the target appears whole, replaces an older one, and a failed write throws and
// leaves no temporary file behind.
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/write-atomic.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'arbor-write-atomic-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('writes the file, then replaces it whole; no temporary file stays', async () => {
    const file = path.join(dir, 'out.json');
    await writeFileAtomic(file, 'first');
    await writeFileAtomic(file, Buffer.from('second'));
    expect(await readFile(file, 'utf8')).toBe('second');
    expect(await readdir(dir)).toEqual(['out.json']);
  });

  it('creates the directory only when asked', async () => {
    const file = path.join(dir, 'a', 'b', 'out.json');
    await expect(writeFileAtomic(file, 'x')).rejects.toThrow(/ENOENT/);
    await writeFileAtomic(file, 'x', { makeDirectory: true });
    expect(await readFile(file, 'utf8')).toBe('x');
  });

  it('a rename that fails throws and removes the temporary file', async () => {
    // The target is a non-empty directory: writing the temporary file works, the rename cannot.
    const target = path.join(dir, 'taken');
    await writeFileAtomic(path.join(target, 'inner'), 'x', { makeDirectory: true });
    await expect(writeFileAtomic(target, 'y')).rejects.toThrow();
    expect((await readdir(dir)).sort()).toEqual(['taken']);
  });
});
