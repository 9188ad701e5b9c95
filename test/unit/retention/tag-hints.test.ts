// Tag hints: a round trip per registry and repository; anything unreadable, foreign or of
// another version reads as no hint (so the tag is asked with a GET); a failed write is dropped;
// and the HEAD-or-GET choice, including Docker Hub's HEAD-always.
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  askTagWith,
  TAG_HINTS_FORMAT,
  TAG_HINTS_VERSION,
  TagHints,
  tagHintsDirBeside,
  tagsFirstSeen,
} from '../../../src/retention/tag-hints.js';

const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

let dir: string;
let hints: TagHints;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'arbor-tag-hints-'));
  hints = new TagHints(path.join(dir, 'registry-tags'));
});

afterEach(async () => {
  await chmod(dir, 0o755).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

async function onlyFile(): Promise<string> {
  const files = await readdir(hints.dir);
  expect(files).toHaveLength(1);
  return path.join(hints.dir, files[0]!);
}

describe('TagHints', () => {
  it('reads back what was written, per registry and repository', async () => {
    await hints.write(
      'reg.example:5000',
      'ns/app',
      new Map([
        ['v2', D2],
        ['v1', D1],
      ]),
    );
    expect(hints.read('reg.example:5000', 'ns/app')).toEqual(
      new Map([
        ['v1', D1],
        ['v2', D2],
      ]),
    );
    expect(hints.read('reg.example:5000', 'ns/other').size).toBe(0);
    expect(hints.read('other.example', 'ns/app').size).toBe(0);
    // A second write replaces the first whole: a tag gone from the registry is gone from the hint.
    await hints.write('reg.example:5000', 'ns/app', new Map([['v2', D1]]));
    expect(hints.read('reg.example:5000', 'ns/app')).toEqual(new Map([['v2', D1]]));
    expect(JSON.parse(await readFile(await onlyFile(), 'utf8'))).toMatchObject({
      format: TAG_HINTS_FORMAT,
      version: TAG_HINTS_VERSION,
      registry: 'reg.example:5000',
      repository: 'ns/app',
    });
  });

  it('keeps when it looked and since when each tag is on its digest; a file without times has none', async () => {
    await hints.write(
      'reg',
      'ns/app',
      new Map([
        ['v1', D1],
        ['v2', D2],
      ]),
      {
        observedAt: 5000,
        since: new Map([['v2', 4000]]),
      },
    );
    expect(hints.readRecord('reg', 'ns/app')).toEqual({
      tags: new Map([
        ['v1', D1],
        ['v2', D2],
      ]),
      observedAt: 5000,
      since: new Map([['v2', 4000]]),
    });
    await hints.write('reg', 'ns/app', new Map([['v1', D1]]));
    expect(hints.readRecord('reg', 'ns/app')).toEqual({ tags: new Map([['v1', D1]]), since: new Map() });
  });

  it('garbage, another version, or a file naming another repository read as no hint', async () => {
    await hints.write('reg', 'ns/app', new Map([['v1', D1]]));
    const file = await onlyFile();
    const good = JSON.parse(await readFile(file, 'utf8'));
    for (const bad of [
      'not json',
      '{"format":',
      'null',
      JSON.stringify({ ...good, version: TAG_HINTS_VERSION + 1 }),
      JSON.stringify({ ...good, format: 'other' }),
      JSON.stringify({ ...good, repository: 'ns/other' }),
      JSON.stringify({ ...good, tags: null }),
    ]) {
      await writeFile(file, bad);
      expect(hints.read('reg', 'ns/app').size, bad).toBe(0);
    }
    // Non-string values are skipped, the rest still count.
    await writeFile(file, JSON.stringify({ ...good, tags: { v1: D1, v2: 7 } }));
    expect(hints.read('reg', 'ns/app')).toEqual(new Map([['v1', D1]]));
  });

  it('a write that cannot happen is dropped, never thrown', async () => {
    await writeFile(path.join(dir, 'file'), '');
    const blocked = new TagHints(path.join(dir, 'file', 'registry-tags'));
    await expect(blocked.write('reg', 'ns/app', new Map([['v1', D1]]))).resolves.toBeUndefined();
    expect(blocked.read('reg', 'ns/app').size).toBe(0);
    await mkdir(hints.dir, { recursive: true });
    await hints.write('reg', 'ns/app', new Map([['v1', D1]]));
    // No temporary file is left behind by a successful write either.
    expect((await readdir(hints.dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('prune removes the hints of repositories not read for 30 days, and stray temporary files', async () => {
    expect(await hints.prune()).toBe(0); // no directory yet
    await hints.write('reg', 'ns/old', new Map([['v1', D1]]));
    const old = await onlyFile();
    await hints.write('reg', 'ns/new', new Map([['v1', D2]]));
    await writeFile(path.join(hints.dir, 'x.json.tmp-1-ab'), '');
    const day = 86_400_000;
    const longAgo = new Date(Date.now() - 31 * day);
    await utimes(old, longAgo, longAgo);
    await utimes(path.join(hints.dir, 'x.json.tmp-1-ab'), longAgo, longAgo);
    expect(await hints.prune()).toBe(2);
    expect(hints.read('reg', 'ns/old').size).toBe(0);
    expect(hints.read('reg', 'ns/new')).toEqual(new Map([['v1', D2]]));
  });

  it('lives beside the digest cache, outside the directory that cache prunes', () => {
    expect(tagHintsDirBeside('/t/.arbor/cache/registry')).toBe('/t/.arbor/cache/registry-tags');
    expect(tagHintsDirBeside('/t/.arbor/cache/registry/')).toBe('/t/.arbor/cache/registry-tags');
  });
});

describe('askTagWith', () => {
  const cache = { has: (d: string) => d === D1 };
  it('HEAD when the last digest is cached, GET otherwise', () => {
    expect(askTagWith('reg', D1, cache)).toBe('HEAD');
    expect(askTagWith('reg', D2, cache)).toBe('GET');
    expect(askTagWith('reg', undefined, cache)).toBe('GET');
    expect(askTagWith('reg', D1, undefined)).toBe('GET');
  });
  it('always HEAD on Docker Hub, where a manifest GET counts as a pull', () => {
    expect(askTagWith('docker.io', undefined, cache)).toBe('HEAD');
    expect(askTagWith('docker.io', D2, undefined)).toBe('HEAD');
  });
});

describe('tagsFirstSeen', () => {
  const previous = {
    tags: new Map([
      ['same', D1],
      ['moved', D1],
      ['seen-earlier', D2],
    ]),
    observedAt: 1000,
    since: new Map([['seen-earlier', 700]]),
  };

  it('a tag new or moved since the previous look is first seen now; an unchanged one keeps its time', () => {
    const now = new Map([
      ['same', D1],
      ['moved', D2],
      ['seen-earlier', D2],
      ['new', D1],
    ]);
    expect(tagsFirstSeen(previous, now, 2000)).toEqual(
      new Map([
        ['moved', 2000],
        ['seen-earlier', 700],
        ['new', 2000],
      ]),
    );
  });

  it('without a previous look nothing is known', () => {
    expect(tagsFirstSeen({ tags: new Map(), since: new Map() }, new Map([['new', D1]]), 2000).size).toBe(0);
  });
});
