import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  beginEntry,
  completeEntry,
  type Journal,
  type JournalTag,
  journalDir,
  KEEP,
  lastUndoable,
  readJournal,
  unfinishedEntry,
  unreadableSince,
  writeEntry,
} from '../../../src/promote/journal.js';

const d = (n: number) => `sha256:${String(n).padStart(64, '0')}`;
const tag = (repository: string, name: string, previous: string | null, next: string): JournalTag => ({
  repository,
  tag: name,
  previous,
  next,
});
const empty: Journal = { target: 'hub', registry: 'r.example', entries: [] };

describe('journal entries (pure)', () => {
  it('a new promotion starts an entry; completing it closes it', () => {
    const begun = beginEntry(empty, 'p1', [tag('k/a', '1', null, d(1))], 't0');
    expect(unfinishedEntry(begun, 'p1')?.tags).toHaveLength(1);
    expect(unfinishedEntry(begun, 'p2')).toBeUndefined();
    const done = completeEntry(begun, 't1');
    expect(done.entries).toEqual([
      { release: 'p1', startedAt: 't0', completedAt: 't1', tags: begun.entries[0]!.tags },
    ]);
    expect(unfinishedEntry(done, 'p1')).toBeUndefined();
  });

  it('a rerun of an unfinished promotion keeps the digests from before the first run', () => {
    const first = beginEntry(empty, 'p1', [tag('k/a', '1', d(1), d(2)), tag('k/b', '1', d(3), d(4))], 't0');
    // The first run moved k/a before it was killed: the rerun sees d(2) there, but d(1) stays "before".
    const rerun = beginEntry(first, 'p1', [tag('k/a', '1', d(2), d(2)), tag('k/c', '1', null, d(5))], 't9');
    expect(rerun.entries).toHaveLength(1);
    expect(rerun.entries[0]!.startedAt).toBe('t0');
    expect(rerun.entries[0]!.tags).toEqual([
      tag('k/b', '1', d(3), d(4)),
      tag('k/a', '1', d(1), d(2)),
      tag('k/c', '1', null, d(5)),
    ]);
  });

  it('a rerun keeps what the first run knew of a tag it then found unreadable (killed while writing it)', () => {
    const first = beginEntry(empty, 'p1', [tag('k/a', '1', d(1), d(2)), tag('k/b', '1', null, d(4))], 't0');
    const unreadable = (t: JournalTag): JournalTag => ({ ...t, previous: null, previousUnreadable: true });
    const rerun = beginEntry(
      first,
      'p1',
      [unreadable(tag('k/a', '1', null, d(2))), unreadable(tag('k/c', '1', null, d(5)))],
      't9',
    );
    expect(rerun.entries[0]!.tags).toEqual([
      tag('k/b', '1', null, d(4)),
      tag('k/a', '1', d(1), d(2)),
      unreadable(tag('k/c', '1', null, d(5))),
    ]);
    // Unreadable in the first run too: still unknown.
    const again = beginEntry(rerun, 'p1', [tag('k/c', '1', d(5), d(5))], 't10');
    expect(again.entries[0]!.tags.at(-1)).toEqual(unreadable(tag('k/c', '1', null, d(5))));
  });

  it('rollback undoes the newest entry not rolled back yet', () => {
    const journal: Journal = {
      ...empty,
      entries: [
        { release: 'p1', startedAt: 't0', completedAt: 't1', tags: [] },
        { release: 'p2', startedAt: 't2', completedAt: 't3', rolledBackAt: 't4', tags: [] },
      ],
    };
    expect(lastUndoable(journal)?.release).toBe('p1');
    expect(lastUndoable(empty)).toBeUndefined();
  });
});

describe('journal store (one file per entry)', () => {
  let root: string;
  let dir: string;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'arbor-journal-'));
    dir = journalDir(root, 'hub');
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it('a promotion reads only the newest entry and rewrites only its own', async () => {
    for (let i = 1; i <= 3; i++)
      await writeEntry(dir, empty, {
        release: `p${i}`,
        startedAt: `t${i}`,
        tags: [tag('k/a', '1', null, d(i))],
      });
    const newest = await readJournal(dir, 'hub', 'r.example', { newest: 1 });
    expect(newest.entries.map((e) => e.release)).toEqual(['p3']);
    const stored = await writeEntry(dir, newest, completeEntry(newest, 't9').entries[0]!);
    expect(stored.id).toBe(newest.entries[0]!.id);
    const all = await readJournal(dir, 'hub', 'r.example');
    expect(all.entries.map((e) => [e.release, e.completedAt])).toEqual([
      ['p1', undefined],
      ['p2', undefined],
      ['p3', 't9'],
    ]);
    expect(await readdir(dir)).toHaveLength(3);
  });

  it(`keeps the newest ${KEEP} entries, in order`, async () => {
    for (let i = 1; i <= KEEP + 2; i++)
      await writeEntry(dir, empty, { release: `p${i}`, startedAt: 't', tags: [] });
    const all = await readJournal(dir, 'hub', 'r.example');
    expect(all.entries).toHaveLength(KEEP);
    expect(all.entries[0]!.release).toBe('p3');
    expect(all.entries.at(-1)!.release).toBe(`p${KEEP + 2}`);
  });

  it('skips an entry file it cannot read, and a missing journal is empty', async () => {
    expect((await readJournal(dir, 'hub', 'r.example')).entries).toEqual([]);
    await writeEntry(dir, empty, { release: 'p1', startedAt: 't1', tags: [] });
    await writeFile(join(dir, '000002-00000000.json'), '{"format":"arbor-promote-journal-entry","ver');
    const journal = await readJournal(dir, 'hub', 'r.example');
    expect(journal.entries.map((e) => e.release)).toEqual(['p1']);
    // The next entry still comes after the unreadable one.
    const next = await writeEntry(dir, journal, { release: 'p3', startedAt: 't3', tags: [] });
    expect(next.id).toMatch(/^000003-/);
  });

  it('splits the single-file journal of earlier versions into entries, once', async () => {
    await mkdir(join(root, '.arbor', 'promote'), { recursive: true });
    const legacy = {
      formatVersion: 1,
      target: 'hub',
      registry: 'r.example',
      entries: [
        { release: 'p1', startedAt: 't1', completedAt: 't2', tags: [tag('k/a', '1', null, d(1))] },
        { release: 'p2', startedAt: 't3', tags: [tag('k/a', '1', d(1), d(2))] },
      ],
    };
    await writeFile(`${dir}.json`, JSON.stringify(legacy));
    const journal = await readJournal(dir, 'hub', 'r.example', { newest: 1 });
    expect(journal.entries.map(({ id: _id, ...e }) => e)).toEqual([legacy.entries[1]]);
    expect(unfinishedEntry(journal, 'p2')).toBeDefined();
    expect(await readdir(join(root, '.arbor', 'promote'))).toEqual(['hub']);
    const all = await readJournal(dir, 'hub', 'r.example');
    expect(all.entries.map(({ id: _id, ...e }) => e)).toEqual(legacy.entries);
  });
});

describe('unreadableSince', () => {
  const entry = (id: string) => ({ id, release: 'p', startedAt: 't', tags: [] });
  it('names unreadable entry files newer than the entry a rollback would undo', () => {
    const journal: Journal = {
      ...empty,
      entries: [entry('000001-aa'), entry('000002-bb')],
      unreadable: ['000003-cc.json'],
    };
    expect(unreadableSince(journal, lastUndoable(journal))).toEqual(['000003-cc.json']);
    expect(unreadableSince({ ...journal, unreadable: ['000000-zz.json'] }, lastUndoable(journal))).toEqual(
      [],
    );
    expect(unreadableSince({ ...empty, unreadable: ['000001-aa.json'] }, undefined)).toEqual([
      '000001-aa.json',
    ]);
  });
});
