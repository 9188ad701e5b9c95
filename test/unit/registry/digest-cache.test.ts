// The on-disk digest cache: what it returns is always exactly the bytes of the digest asked for;
// anything else on disk (damaged, foreign, of another version, under the wrong name) is a miss
// that the next put repairs; prune bounds it by age and size.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DIGEST_CACHE_FORMAT,
  DIGEST_CACHE_VERSION,
  DigestCache,
  registryCacheDir,
} from '../../../src/registry/digest-cache.js';

const MEDIA = 'application/vnd.oci.image.manifest.v1+json';
const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const sha512 = (b: Buffer) => `sha512:${createHash('sha512').update(b).digest('hex')}`;

let dir: string;
let cache: DigestCache;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'arbor-digest-cache-'));
  cache = new DigestCache(path.join(dir, 'cache'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function entryFile(digest: string): string {
  const [algorithm, hex] = digest.split(':') as [string, string];
  return path.join(cache.dir, algorithm, hex.slice(0, 2), hex);
}

function entryBytes(header: Record<string, unknown>, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), body]);
}

async function allFiles(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(root, { withFileTypes: true, recursive: true }).catch(() => []))
    if (e.isFile()) out.push(path.join(e.parentPath, e.name));
  return out;
}

describe('DigestCache', () => {
  it('lives under <root>/.arbor/cache/registry', () => {
    expect(registryCacheDir('/tree')).toBe(path.join('/tree', '.arbor', 'cache', 'registry'));
  });

  it('miss on an empty cache, hit with the same bytes and media type after put (sha256 and sha512)', async () => {
    const bytes = Buffer.from('{"schemaVersion":2}');
    expect(await cache.get(sha256(bytes))).toBeUndefined();
    await cache.put(sha256(bytes), bytes, MEDIA);
    await cache.put(sha512(bytes), bytes, 'application/octet-stream');
    const hit = await cache.get(sha256(bytes));
    expect(hit?.bytes.equals(bytes)).toBe(true);
    expect(hit?.mediaType).toBe(MEDIA);
    expect((await cache.get(sha512(bytes)))?.mediaType).toBe('application/octet-stream');
    // Another process (another instance) reads what this one wrote.
    expect((await new DigestCache(cache.dir).get(sha256(bytes)))?.bytes.equals(bytes)).toBe(true);
    // No temporary files are left behind.
    expect((await allFiles(cache.dir)).every((f) => !f.includes('.tmp-'))).toBe(true);
  });

  it('round-trips any bytes and media type (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), fc.string(), async (raw, mediaType) => {
        const bytes = Buffer.from(raw);
        await cache.put(sha256(bytes), bytes, mediaType);
        const hit = await cache.get(sha256(bytes));
        expect(hit?.bytes.equals(bytes)).toBe(true);
        expect(hit?.mediaType).toBe(mediaType);
      }),
      { numRuns: 50 },
    );
  });

  it('has(): whether an entry file exists, without reading it; never for a malformed digest', async () => {
    const bytes = Buffer.from('{"schemaVersion":2}');
    const digest = sha256(bytes);
    expect(cache.has(digest)).toBe(false);
    await cache.put(digest, bytes, MEDIA);
    expect(cache.has(digest)).toBe(true);
    expect(cache.has('sha256:../../etc/passwd')).toBe(false);
    expect(cache.has('not-a-digest')).toBe(false);
  });

  it('refuses to store bytes under a digest they do not hash to', async () => {
    const bytes = Buffer.from('real');
    const other = sha256(Buffer.from('other'));
    await cache.put(other, bytes, MEDIA);
    expect(await cache.get(other)).toBeUndefined();
    expect(await allFiles(cache.dir)).toEqual([]);
  });

  it('never turns a malformed digest into a path', async () => {
    const bytes = Buffer.from('x');
    for (const bad of [
      'sha256:../../../etc/passwd',
      'sha256:ABC',
      'md5:0123',
      '',
      sha256(bytes).toUpperCase(),
    ]) {
      await cache.put(bad, bytes, MEDIA);
      expect(await cache.get(bad)).toBeUndefined();
    }
    expect(await allFiles(dir)).toEqual([]);
  });

  it('ignores an entry whose bytes do not match its digest, and the next put repairs it', async () => {
    const bytes = Buffer.from('{"config":{}}');
    const digest = sha256(bytes);
    await cache.put(digest, bytes, MEDIA);
    // Same length, one byte flipped: only the hash can tell.
    const stored = await readFile(entryFile(digest));
    const at = stored.length - 2;
    stored.writeUInt8(stored.readUInt8(at) ^ 0x01, at);
    await writeFile(entryFile(digest), stored);
    expect(await cache.get(digest)).toBeUndefined();
    await cache.put(digest, bytes, MEDIA);
    expect((await cache.get(digest))?.bytes.equals(bytes)).toBe(true);
  });

  it('ignores a truncated entry, garbage, an empty file, and a header without newline', async () => {
    const bytes = Buffer.from('{"layers":[]}');
    const digest = sha256(bytes);
    await cache.put(digest, bytes, MEDIA);
    const whole = await readFile(entryFile(digest));
    for (const damaged of [
      whole.subarray(0, whole.length - 1),
      whole.subarray(0, 10),
      Buffer.from('not json at all\n{"layers":[]}'),
      Buffer.alloc(0),
      Buffer.alloc(10_000, 0x41),
    ]) {
      await writeFile(entryFile(digest), damaged);
      expect(await cache.get(digest)).toBeUndefined();
    }
  });

  it('ignores an entry of another format or version, or whose header names another digest', async () => {
    const bytes = Buffer.from('content');
    const digest = sha256(bytes);
    const header = {
      format: DIGEST_CACHE_FORMAT,
      version: DIGEST_CACHE_VERSION,
      digest,
      mediaType: MEDIA,
      size: bytes.length,
    };
    await mkdir(path.dirname(entryFile(digest)), { recursive: true });
    await writeFile(entryFile(digest), entryBytes(header, bytes));
    expect((await cache.get(digest))?.bytes.equals(bytes)).toBe(true); // the layout the tests write is right

    for (const foreign of [
      { ...header, version: DIGEST_CACHE_VERSION + 1 },
      { ...header, format: 'something-else' },
      { ...header, digest: sha256(Buffer.from('other')) },
      { ...header, size: bytes.length + 1 },
      { ...header, mediaType: 42 },
    ]) {
      await writeFile(entryFile(digest), entryBytes(foreign, bytes));
      expect(await cache.get(digest)).toBeUndefined();
    }
    // The right header over bytes of another digest, filed under this digest's name.
    const other = Buffer.from('contenT');
    await writeFile(entryFile(digest), entryBytes({ ...header, size: other.length }, other));
    expect(await cache.get(digest)).toBeUndefined();
  });

  it('a write that cannot happen is skipped, not thrown', async () => {
    // The cache directory's parent is a file: mkdir fails.
    await writeFile(path.join(dir, 'blocker'), 'x');
    const blocked = new DigestCache(path.join(dir, 'blocker', 'cache'));
    const bytes = Buffer.from('y');
    await expect(blocked.put(sha256(bytes), bytes, MEDIA)).resolves.toBeUndefined();
    expect(await blocked.get(sha256(bytes))).toBeUndefined();
  });

  it('prune drops entries unused for maxAge, then the least recently used above maxBytes', async () => {
    const now = Date.now();
    const digests: string[] = [];
    for (let i = 0; i < 6; i++) {
      const bytes = Buffer.alloc(1000, i);
      const digest = sha256(bytes);
      digests.push(digest);
      await cache.put(digest, bytes, MEDIA);
      // Entry i was last used i days ago.
      const at = new Date(now - i * 86_400_000);
      await utimes(entryFile(digest), at, at);
    }
    const size = (await stat(entryFile(digests[0]!))).size;
    // A stray temp file of a dead writer, and a file that is no entry.
    const temp = `${entryFile(digests[0]!)}.tmp-1-abc`;
    await writeFile(temp, 'half');
    const old = new Date(now - 2 * 3_600_000);
    await utimes(temp, old, old);
    await writeFile(path.join(cache.dir, 'sha256', 'zz'), 'not a shard');
    await mkdir(path.join(cache.dir, 'sha256', '00'), { recursive: true });
    await writeFile(path.join(cache.dir, 'sha256', '00', 'junk'), 'x');

    // Age: days 0–3 survive a 3.5-day limit; size: room for 2 → the two most recently used.
    const result = await cache.prune({ now, maxAgeMs: 3.5 * 86_400_000, maxBytes: 2 * size + 10 });
    expect(result).toEqual({ removed: 7, kept: 2, keptBytes: 2 * size });
    const present = await Promise.all(digests.map(async (d) => (await cache.get(d)) !== undefined));
    expect(present).toEqual([true, true, false, false, false, false]);
    expect((await allFiles(cache.dir)).sort()).toEqual(
      [entryFile(digests[0]!), entryFile(digests[1]!)].sort(),
    );
  });

  it('a hit marks the entry as used, so prune keeps it', async () => {
    const bytes = Buffer.from('used');
    const digest = sha256(bytes);
    await cache.put(digest, bytes, MEDIA);
    const longAgo = new Date(Date.now() - 40 * 86_400_000);
    await utimes(entryFile(digest), longAgo, longAgo);
    expect(await cache.get(digest)).toBeDefined();
    expect((await cache.prune()).kept).toBe(1);
  });

  it('pruneIfDue prunes at most once a day', async () => {
    const bytes = Buffer.from('old');
    const digest = sha256(bytes);
    await cache.put(digest, bytes, MEDIA);
    const longAgo = new Date(Date.now() - 40 * 86_400_000);
    await utimes(entryFile(digest), longAgo, longAgo);
    const now = Date.now();
    expect((await cache.pruneIfDue({ now }))?.removed).toBe(1);
    await cache.put(digest, bytes, MEDIA);
    await utimes(entryFile(digest), longAgo, longAgo);
    expect(await cache.pruneIfDue({ now: now + 3_600_000 })).toBeUndefined();
    expect((await stat(entryFile(digest))).isFile()).toBe(true);
    expect((await cache.pruneIfDue({ now: now + 25 * 3_600_000 }))?.removed).toBe(1);
    // No cache directory yet: nothing to do, nothing created.
    const fresh = new DigestCache(path.join(dir, 'none'));
    expect(await fresh.pruneIfDue()).toBeUndefined();
    expect(await allFiles(path.join(dir, 'none'))).toEqual([]);
  });
});
