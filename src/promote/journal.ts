// What every promotion moved, per target, under `.arbor/promote/<target>/`: each tag's digest
// before and after. Written before the tags flip (so a promotion killed in the middle of its flip
// is known), completed after; `arbor promote rollback` puts the previous digests back. A rerun of
// an unfinished promotion of the same release keeps the first run's "before" for each tag: the
// rollback still restores the state before the promotion began.
//
// One file per promotion (an entry), not one file for the history: a promotion reads the newest
// entry and writes its own, so its cost does not grow with the history. The single file this
// replaces (`<target>.json`, still read and split into entries once) held the last 50 entries and
// was read, rewritten before the flip and again after it: ≈ 110 ms of every promotion once 50
// promotions of 300 tags were in it (4 MB).
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../write-atomic.js';

export interface JournalTag {
  repository: string;
  tag: string;
  /** Digest before the promotion; null when the tag did not exist (or was unreadable). */
  previous: string | null;
  /**
   * The target could not read the tag before the promotion (it answered 500: a link a crash left
   * empty), so what it named is unknown: rollback leaves it in place and says so.
   */
  previousUnreadable?: true;
  next: string;
}

export interface JournalEntry {
  /** Its file's name (without `.json`) once stored; absent for an entry not written yet. */
  id?: string;
  release: string;
  startedAt: string;
  completedAt?: string;
  rolledBackAt?: string;
  tags: JournalTag[];
}

export interface Journal {
  target: string;
  registry: string;
  /** Oldest first: every stored entry, or only the newest ones when the reader asked for fewer. */
  entries: JournalEntry[];
  /** Entry files that could not be read (cut, edited, or from another version), oldest first. */
  unreadable?: string[];
}

const FORMAT = 'arbor-promote-journal-entry';
const VERSION = 1;
/** Entries kept per target (older ones are removed as new ones are written). */
export const KEEP = 50;
/** `000042-1a2b3c4d`: a sequence number, then a random part so two writers never share a name. */
const ENTRY_NAME = /^(\d{6,})-[0-9a-f]+\.json$/;

export function journalDir(root: string, target: string): string {
  return join(root, '.arbor', 'promote', target);
}

/**
 * The target's journal: every entry, or the `newest` ones (a promotion needs only the last).
 * Missing or unreadable entries are left out (a new journal starts; rollback then says there is
 * nothing to undo).
 */
export async function readJournal(
  dir: string,
  target: string,
  registry: string,
  options: { newest?: number } = {},
): Promise<Journal> {
  await splitLegacyFile(dir);
  const names = await entryNames(dir);
  const chosen = options.newest === undefined ? names : names.slice(-options.newest);
  const entries = await Promise.all(chosen.map((name) => readEntry(dir, name)));
  const unreadable = chosen.filter((_, i) => entries[i] === null);
  return {
    target,
    registry,
    entries: entries.filter((e): e is JournalEntry => e !== null),
    ...(unreadable.length > 0 ? { unreadable } : {}),
  };
}

/**
 * Stores `entry` (a new file for an entry without an id, its own file again otherwise) and returns
 * it with its id. A new entry removes those beyond the newest KEEP.
 */
export async function writeEntry(
  dir: string,
  journal: Pick<Journal, 'target' | 'registry'>,
  entry: JournalEntry,
): Promise<JournalEntry> {
  await mkdir(dir, { recursive: true });
  const names = entry.id === undefined ? await entryNames(dir) : [];
  const id = entry.id ?? nextId(names);
  const { id: _stored, ...content } = entry;
  const file = {
    format: FORMAT,
    version: VERSION,
    target: journal.target,
    registry: journal.registry,
    entry: content,
  };
  await writeFileAtomic(join(dir, `${id}.json`), `${JSON.stringify(file, null, 1)}\n`);
  if (entry.id === undefined)
    for (const old of names.slice(0, Math.max(0, names.length + 1 - KEEP)))
      await rm(join(dir, old), { force: true });
  return { ...entry, id };
}

/** Entry file names, oldest first (by sequence number, then name). */
async function entryNames(dir: string): Promise<string[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names
    .filter((n) => ENTRY_NAME.test(n))
    .sort((a, b) => sequenceOf(a) - sequenceOf(b) || (a < b ? -1 : a > b ? 1 : 0));
}

function sequenceOf(name: string): number {
  return Number(ENTRY_NAME.exec(name)?.[1] ?? 0);
}

/** The id after the newest of `names` (oldest first). Pure but for the random part. */
function nextId(names: readonly string[]): string {
  const last = names.length > 0 ? sequenceOf(names.at(-1)!) : 0;
  return `${String(last + 1).padStart(6, '0')}-${randomBytes(4).toString('hex')}`;
}

async function readEntry(dir: string, name: string): Promise<JournalEntry | null> {
  try {
    const file = JSON.parse(await readFile(join(dir, name), 'utf8'));
    if (file?.format !== FORMAT || file.version !== VERSION || !isEntry(file.entry)) return null;
    return { ...file.entry, id: name.slice(0, -'.json'.length) };
  } catch {
    return null;
  }
}

function isEntry(e: unknown): e is JournalEntry {
  const entry = e as Partial<JournalEntry> | null;
  return (
    typeof entry?.release === 'string' && typeof entry.startedAt === 'string' && Array.isArray(entry.tags)
  );
}

/**
 * The single-file journal of earlier versions (`<target>.json` beside the directory), split into
 * entry files in its order, then removed. A file that cannot be read is left alone (ignored, as
 * it was then).
 */
async function splitLegacyFile(dir: string): Promise<void> {
  const legacy = `${dir}.json`;
  let old: { formatVersion?: unknown; target?: unknown; registry?: unknown; entries?: unknown };
  try {
    old = JSON.parse(await readFile(legacy, 'utf8'));
  } catch {
    return;
  }
  if (old?.formatVersion !== 1 || !Array.isArray(old.entries)) return;
  const owner = { target: String(old.target ?? ''), registry: String(old.registry ?? '') };
  for (const { id: _none, ...entry } of old.entries.filter(isEntry)) await writeEntry(dir, owner, entry);
  await rm(legacy, { force: true });
}

/**
 * The entry for a promotion about to flip `tags`: a new one, or the unfinished entry of the same
 * release continued (its earlier "previous" digests kept). Pure.
 */
export function beginEntry(journal: Journal, release: string, tags: JournalTag[], now: string): Journal {
  const last = unfinishedEntry(journal, release);
  if (last) {
    const earlier = new Map(last.tags.map((t) => [`${t.repository}:${t.tag}`, t]));
    const merged = tags.map((t): JournalTag => {
      const first = earlier.get(`${t.repository}:${t.tag}`);
      if (!first) return t;
      // What the tag named before the first run, which this run may have found unreadable (that
      // run was killed while writing it).
      const { previousUnreadable: _now, ...rest } = t;
      return {
        ...rest,
        previous: first.previous,
        ...(first.previousUnreadable ? { previousUnreadable: true as const } : {}),
      };
    });
    const moving = new Set(tags.map((t) => `${t.repository}:${t.tag}`));
    const kept = last.tags.filter((t) => !moving.has(`${t.repository}:${t.tag}`));
    return {
      ...journal,
      entries: [...journal.entries.slice(0, -1), { ...last, tags: [...kept, ...merged] }],
    };
  }
  return { ...journal, entries: [...journal.entries, { release, startedAt: now, tags }] };
}

/** The last entry when it is a promotion of `release` that never finished (cut short), if any. */
export function unfinishedEntry(journal: Journal, release: string): JournalEntry | undefined {
  const last = journal.entries.at(-1);
  return last && !last.completedAt && !last.rolledBackAt && last.release === release ? last : undefined;
}

export function completeEntry(journal: Journal, now: string): Journal {
  const last = journal.entries.at(-1);
  if (!last) return journal;
  return { ...journal, entries: [...journal.entries.slice(0, -1), { ...last, completedAt: now }] };
}

/**
 * Entry files newer than `entry` (or than everything, without one) that could not be read. A
 * rollback must not pass over them: it would undo an older promotion than the last one.
 */
export function unreadableSince(journal: Journal, entry: JournalEntry | undefined): string[] {
  const after = entry?.id === undefined ? -1 : sequenceOf(`${entry.id}.json`);
  return (journal.unreadable ?? []).filter((name) => sequenceOf(name) > after);
}

/** The latest entry not rolled back yet (what `rollback` undoes), if any. */
export function lastUndoable(journal: Journal): JournalEntry | undefined {
  return [...journal.entries].reverse().find((e) => !e.rolledBackAt);
}
