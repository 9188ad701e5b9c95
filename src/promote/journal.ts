// What every promotion moved, per target, under `.arbor/promote/<target>.json`: each tag's digest
// before and after. Written before the tags flip (so a promotion killed in the middle of its flip
// is known), completed after; `arbor promote rollback` puts the previous digests back. A rerun of
// an unfinished promotion of the same release keeps the first run's "before" for each tag: the
// rollback still restores the state before the promotion began.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../write-atomic.js';

export interface JournalTag {
  repository: string;
  tag: string;
  /** Digest before the promotion; null when the tag did not exist. */
  previous: string | null;
  next: string;
}

export interface JournalEntry {
  release: string;
  startedAt: string;
  completedAt?: string;
  rolledBackAt?: string;
  tags: JournalTag[];
}

export interface Journal {
  formatVersion: 1;
  target: string;
  registry: string;
  entries: JournalEntry[];
}

const KEEP = 50;

export function journalFile(root: string, target: string): string {
  return join(root, '.arbor', 'promote', `${target}.json`);
}

export async function readJournal(file: string, target: string, registry: string): Promise<Journal> {
  try {
    const journal = JSON.parse(await readFile(file, 'utf8')) as Journal;
    if (journal.formatVersion === 1 && Array.isArray(journal.entries)) return journal;
  } catch {
    // No journal yet (or unreadable: a new one starts; rollback then says there is nothing to undo).
  }
  return { formatVersion: 1, target, registry, entries: [] };
}

export async function writeJournal(file: string, journal: Journal): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true });
  await writeFileAtomic(
    file,
    `${JSON.stringify({ ...journal, entries: journal.entries.slice(-KEEP) }, null, 2)}\n`,
  );
}

/**
 * The entry for a promotion about to flip `tags`: a new one, or the unfinished entry of the same
 * release continued (its earlier "previous" digests kept). Pure.
 */
export function beginEntry(journal: Journal, release: string, tags: JournalTag[], now: string): Journal {
  const last = unfinishedEntry(journal, release);
  if (last) {
    const earlier = new Map(last.tags.map((t) => [`${t.repository}:${t.tag}`, t.previous]));
    const merged = tags.map((t) => {
      const key = `${t.repository}:${t.tag}`;
      return earlier.has(key) ? { ...t, previous: earlier.get(key)! } : t;
    });
    const kept = last.tags.filter((t) => !tags.some((n) => n.repository === t.repository && n.tag === t.tag));
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

/** The latest entry not rolled back yet (what `rollback` undoes), if any. */
export function lastUndoable(journal: Journal): JournalEntry | undefined {
  return [...journal.entries].reverse().find((e) => !e.rolledBackAt);
}
