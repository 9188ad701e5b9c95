import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileHashCache, fileHashCachePath, trustworthy } from '../../../src/fingerprint/cache.js';
import { FileHasher, hashFile } from '../../../src/fingerprint/hash.js';
import { removeTempDirs, sleep, tempDir, writeTree } from './helpers.js';

afterAll(removeTempDirs);

const sha = (data: string | Buffer) => `sha256:${createHash('sha256').update(data).digest('hex')}`;
const FAKE = `sha256:${'ab'.repeat(32)}`;

/** A repository with two files old enough to be cached (not "racily clean"). */
async function repo(): Promise<{ root: string; a: string; b: string; cacheFile: string }> {
  const root = await tempDir();
  await writeTree(root, { a: 'alpha', b: 'beta' });
  await sleep(80);
  return { root, a: path.join(root, 'a'), b: path.join(root, 'b'), cacheFile: fileHashCachePath(root) };
}

const bigStat = (file: string) => stat(file, { bigint: true });

describe('hashFile', () => {
  it('is the sha256 of the bytes, for small files and for files streamed in chunks', async () => {
    const root = await tempDir();
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    big.write('a different tail', big.length - 20);
    await writeFile(path.join(root, 'big'), big);
    await writeFile(path.join(root, 'small'), 'hello');
    expect(await hashFile(path.join(root, 'small'), 5)).toBe(sha('hello'));
    expect(await hashFile(path.join(root, 'big'), big.length)).toBe(sha(big));
  });
});

describe('FileHashCache', () => {
  it('lives under .arbor/cache of the config root', () => {
    expect(fileHashCachePath('/repo')).toBe('/repo/.arbor/cache/file-hashes.json');
  });

  it('answers an unchanged file after a save and load, without reading it', async () => {
    const { a, cacheFile } = await repo();
    const first = await FileHashCache.load(cacheFile);
    const cold = new FileHasher(first);
    expect(await cold.hash(a, await bigStat(a))).toBe(sha('alpha'));
    expect(cold.stats).toMatchObject({ filesRead: 1, bytesRead: 5, cacheHits: 0 });
    await first.save();

    const warm = new FileHasher(await FileHashCache.load(cacheFile));
    expect(await warm.hash(a, await bigStat(a))).toBe(sha('alpha'));
    expect(warm.stats).toMatchObject({ filesRead: 0, cacheHits: 1 });
  });

  it('a cache that cannot be written (its path a directory, .arbor a file) costs the next run a hash, not this one its command', async () => {
    const { a, cacheFile } = await repo();
    await mkdir(cacheFile, { recursive: true });
    const cache = await FileHashCache.load(cacheFile);
    cache.set(a, await bigStat(a), FAKE);
    await expect(cache.save()).resolves.toBeUndefined();
    const other = await repo();
    await writeFile(path.join(other.root, '.arbor'), 'a file where the directory should be');
    const blocked = await FileHashCache.load(other.cacheFile);
    blocked.set(other.a, await bigStat(other.a), FAKE);
    await expect(blocked.save()).resolves.toBeUndefined();
  });

  it('is really trusted for unchanged files: a recorded hash is returned as is', async () => {
    const { a, cacheFile } = await repo();
    const cache = await FileHashCache.load(cacheFile);
    cache.set(a, await bigStat(a), FAKE);
    await cache.save();
    expect((await FileHashCache.load(cacheFile)).get(a, await bigStat(a))).toBe(FAKE);
  });

  it('misses when size, mtime, ctime or inode differ', async () => {
    const { a, b, cacheFile } = await repo();
    const cache = await FileHashCache.load(cacheFile);
    const st = await bigStat(a);
    cache.set(a, st, FAKE);
    expect(cache.get(a, st)).toBe(FAKE);
    expect(cache.get(a, { ...st, size: st.size + 1n } as typeof st)).toBeUndefined();
    expect(cache.get(a, { ...st, mtimeNs: st.mtimeNs + 1n } as typeof st)).toBeUndefined();
    expect(cache.get(a, { ...st, ctimeNs: st.ctimeNs + 1n } as typeof st)).toBeUndefined();
    expect(cache.get(a, { ...st, ino: st.ino + 1n } as typeof st)).toBeUndefined();
    // Another file with the very same stat values is still another path.
    expect(cache.get(b, st)).toBeUndefined();
  });

  it('re-reads a file whose content changed while size and mtime were put back (ctime)', async () => {
    const { a, cacheFile } = await repo();
    const before = await bigStat(a);
    const cache = await FileHashCache.load(cacheFile);
    const hasher = new FileHasher(cache);
    await hasher.hash(a, before);
    await cache.save();
    await writeFile(a, 'ALPHA');
    const { utimes } = await import('node:fs/promises');
    await utimes(a, before.atime, before.mtime);
    const after = await bigStat(a);
    expect(after.size).toBe(before.size);
    const warm = new FileHasher(await FileHashCache.load(cacheFile));
    expect(await warm.hash(a, after)).toBe(sha('ALPHA'));
    expect(warm.stats.filesRead).toBe(1);
  });

  it('does not store files changed just before the run ("racily clean")', async () => {
    const root = await tempDir();
    await writeTree(root, { fresh: 'new' });
    const file = path.join(root, 'fresh');
    const cache = await FileHashCache.load(fileHashCachePath(root));
    cache.set(file, await bigStat(file), sha('new'));
    expect(cache.get(file, await bigStat(file))).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('re-reads a file rewritten, same size, right after it was hashed: its entry is never trusted', async () => {
    // The racy case itself, on the real filesystem: written, hashed and rewritten within
    // moments, so size, mtime tick, ctime tick and inode may all be equal.
    for (let round = 0; round < 20; round++) {
      const root = await tempDir();
      const file = path.join(root, 'f');
      await writeFile(file, 'one');
      const cacheFile = fileHashCachePath(root);
      const first = await FileHashCache.load(cacheFile);
      expect(await new FileHasher(first).hash(file, await bigStat(file))).toBe(sha('one'));
      await first.save();
      await writeFile(file, 'two');
      const warm = new FileHasher(await FileHashCache.load(cacheFile));
      expect(await warm.hash(file, await bigStat(file))).toBe(sha('two'));
    }
  });

  it('trusts an entry only when its file changed longer before the entry was made than a timestamp tick', () => {
    const s = 1_000_000_000n;
    const ms = 1_000_000n;
    const fine = { mtimeNs: 1_700_000_000n * s + 123_456_789n, ctimeNs: 1_700_000_000n * s + 123_456_789n };
    expect(trustworthy(fine, fine.ctimeNs + 51n * ms)).toBe(true);
    expect(trustworthy(fine, fine.ctimeNs + 50n * ms)).toBe(false);
    expect(trustworthy(fine, fine.ctimeNs)).toBe(false);
    // mtime later than ctime cannot happen on Linux, but the later of the two counts.
    expect(trustworthy({ ...fine, mtimeNs: fine.ctimeNs + s }, fine.ctimeNs + 51n * ms)).toBe(false);
    // A filesystem that stores whole seconds (its ctime says so): a tick is up to two seconds.
    const coarse = { mtimeNs: 1_700_000_000n * s, ctimeNs: 1_700_000_000n * s };
    expect(trustworthy(coarse, coarse.ctimeNs + 1_999n * ms)).toBe(false);
    expect(trustworthy(coarse, coarse.ctimeNs + 2_001n * ms)).toBe(true);
  });

  it("does not trust a stored entry made too close to its file's times, whatever the file holds", async () => {
    const { a, cacheFile } = await repo();
    const st = await bigStat(a);
    // An entry as a buggy or older writer could have stored it: made in its file's own tick.
    const body = JSON.stringify([
      [a, `${st.size}`, `${st.mtimeNs}`, `${st.ctimeNs}`, `${st.ino}`, FAKE, `${st.ctimeNs}`],
    ]);
    const header = { format: 'arbor-file-hashes', version: 2, host: hostname(), checksum: sha(body) };
    await mkdir(path.dirname(cacheFile), { recursive: true });
    await writeFile(cacheFile, `${JSON.stringify(header)}\n${body}\n`);
    const cache = await FileHashCache.load(cacheFile);
    expect(cache.discarded).toBeNull();
    expect(cache.size).toBe(1);
    expect(cache.get(a, st)).toBeUndefined();
  });

  it("records entries at the filesystem's time of a stamp written before the first read", async () => {
    const { a, cacheFile } = await repo();
    const cache = await FileHashCache.load(cacheFile);
    const before = BigInt(Date.now()) * 1_000_000n;
    expect(cache.get(a, await bigStat(a))).toBeUndefined();
    const stamp = await stat(path.join(path.dirname(cacheFile), 'file-hashes.stamp'), { bigint: true });
    expect(stamp.ctimeNs).toBeGreaterThanOrEqual(before - 20_000_000n);
    cache.set(a, await bigStat(a), FAKE);
    await cache.save();
    const stored = JSON.parse((await readFile(cacheFile, 'utf8')).split('\n')[1]!) as string[][];
    expect(BigInt(stored[0]![6]!)).toBeLessThanOrEqual(stamp.ctimeNs);
    expect(BigInt(stored[0]![6]!)).toBeLessThanOrEqual(BigInt(Date.now()) * 1_000_000n);
  });

  it('drops entries for files not looked up in this run, unless asked to keep them', async () => {
    const { a, b, cacheFile } = await repo();
    const cache = await FileHashCache.load(cacheFile);
    cache.set(a, await bigStat(a), FAKE);
    cache.set(b, await bigStat(b), FAKE);
    await cache.save();

    const onlyA = await FileHashCache.load(cacheFile);
    expect(onlyA.get(a, await bigStat(a))).toBe(FAKE);
    await onlyA.save({ prune: false });
    expect((await FileHashCache.load(cacheFile)).size).toBe(2);

    const again = await FileHashCache.load(cacheFile);
    again.get(a, await bigStat(a));
    await again.save();
    const pruned = await FileHashCache.load(cacheFile);
    expect(pruned.size).toBe(1);
    expect(pruned.get(b, await bigStat(b))).toBeUndefined();
  });

  it('is not rewritten by a run that changed nothing, and is by one that did', async () => {
    const { a, b, cacheFile } = await repo();
    const cache = await FileHashCache.load(cacheFile);
    const first = new FileHasher(cache);
    await first.hash(a, await bigStat(a));
    await first.hash(b, await bigStat(b));
    await cache.save();
    const written = await stat(cacheFile, { bigint: true });

    // Same files, all answered from the cache: the file is left as it is (same inode: no rename).
    const again = await FileHashCache.load(cacheFile);
    for (const f of [a, b]) expect(again.get(f, await bigStat(f))).toBeDefined();
    await again.save();
    expect((await stat(cacheFile, { bigint: true })).ino).toBe(written.ino);

    // A file not looked up is dropped on save: that is a change.
    const onlyA = await FileHashCache.load(cacheFile);
    onlyA.get(a, await bigStat(a));
    await onlyA.save();
    expect((await stat(cacheFile, { bigint: true })).ino).not.toBe(written.ino);
    expect((await FileHashCache.load(cacheFile)).size).toBe(1);
  });

  it('writes atomically: no temporary file is left next to the cache', async () => {
    const { a, cacheFile } = await repo();
    const cache = await FileHashCache.load(cacheFile);
    cache.set(a, await bigStat(a), FAKE);
    await cache.save();
    // Beside it only the stamp whose time is the filesystem's clock (see cache.ts).
    expect((await readdir(path.dirname(cacheFile))).sort()).toEqual([
      'file-hashes.json',
      'file-hashes.stamp',
    ]);
  });
});

describe('FileHashCache ignores a cache it cannot trust', () => {
  async function savedCache() {
    const r = await repo();
    const cache = await FileHashCache.load(r.cacheFile);
    cache.set(r.a, await bigStat(r.a), FAKE);
    await cache.save();
    const text = await readFile(r.cacheFile, 'utf8');
    return { ...r, text };
  }

  async function expectIgnored(cacheFile: string, a: string, reason: RegExp) {
    const loaded = await FileHashCache.load(cacheFile);
    expect(loaded.discarded).toMatch(reason);
    expect(loaded.size).toBe(0);
    expect(loaded.get(a, await bigStat(a))).toBeUndefined();
    // And it is rebuilt: saving works over the bad file.
    loaded.set(a, await bigStat(a), FAKE);
    await loaded.save();
    expect((await FileHashCache.load(cacheFile)).discarded).toBeNull();
  }

  it('a missing cache is simply empty', async () => {
    const { cacheFile } = await repo();
    const loaded = await FileHashCache.load(cacheFile);
    expect(loaded.discarded).toBeNull();
    expect(loaded.size).toBe(0);
  });

  it('truncated', async () => {
    const { cacheFile, a, text } = await savedCache();
    await writeFile(cacheFile, text.slice(0, text.length - 30));
    await expectIgnored(cacheFile, a, /checksum mismatch/);
  });

  it('edited entry (checksum no longer matches)', async () => {
    const { cacheFile, a, text } = await savedCache();
    await writeFile(cacheFile, text.replace('abab', 'cdcd'));
    await expectIgnored(cacheFile, a, /checksum mismatch/);
  });

  it('garbage', async () => {
    const { cacheFile, a } = await savedCache();
    await writeFile(cacheFile, '\u0000\u0001not json at all\n{');
    await expectIgnored(cacheFile, a, /corrupt header/);
  });

  it('another format version', async () => {
    const { cacheFile, a, text } = await savedCache();
    await writeFile(cacheFile, text.replace('"version":2', '"version":99'));
    await expectIgnored(cacheFile, a, /version 99/);
  });

  it('written on another host', async () => {
    const { cacheFile, a, text } = await savedCache();
    await writeFile(cacheFile, text.replace(/"host":"[^"]*"/, '"host":"some-other-machine"'));
    await expectIgnored(cacheFile, a, /another host \(some-other-machine\)/);
  });

  it('a consistent file with malformed entries', async () => {
    const { cacheFile, a, text } = await savedCache();
    const header = JSON.parse(text.slice(0, text.indexOf('\n')));
    const body = JSON.stringify([[a, 'x', '1', '1', '1', 'not-a-hash', '1']]);
    header.checksum = sha(body);
    await writeFile(cacheFile, `${JSON.stringify(header)}\n${body}\n`);
    await expectIgnored(cacheFile, a, /malformed entry/);
  });
});
