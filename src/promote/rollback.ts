// `arbor promote rollback --to NAME`: the tags the last promotion to a target moved go back to the
// digests they had before it, all in one burst. A tag the promotion created is deleted where the
// registry can delete a tag alone; otherwise (distribution deletes manifests, not tags) it stays
// and is named. So does a tag the promotion found unreadable (what it named before is unknown).
import pLimit from 'p-limit';
import type { RegistryClient } from '../registry/client.js';
import { putTagsGuarded } from '../registry/deletion-guard.js';
import { RegistryError } from '../registry/errors.js';
import type { FlipResult, TagWrite } from '../transfer/flip.js';
import { type Journal, type JournalEntry, lastUndoable, writeEntry } from './journal.js';

export interface RollbackResult {
  entry: JournalEntry;
  flip: FlipResult;
  restored: number;
  removed: string[];
  /** Tags the promotion created that the registry cannot delete alone. */
  leftInPlace: string[];
  /** Tags the promotion found unreadable: what they named before is unknown, so they stay. */
  unknownBefore: string[];
  /** Tags that name another digest than the promotion wrote (moved since, by someone): they stay. */
  movedSince: string[];
  /** Tags already on the digest they had before (put back by hand, or by a rollback that stopped part-way). */
  alreadyBack: string[];
  /**
   * The release's record at the target, which says the target holds the release (`arbor
   * releases`): removed, not there, or left because the registry does not delete manifests.
   */
  record?: 'removed' | 'absent' | 'left';
}

export async function rollback(
  client: RegistryClient,
  journal: Journal,
  dir: string,
  /** The target's release records repository (`<namespace>/arbor-releases`). */
  recordRepository?: string,
): Promise<RollbackResult | null> {
  const entry = lastUndoable(journal);
  if (!entry) return null;
  const limit = pLimit(16);
  // Only what still names the promotion's digest goes back: a tag moved since (a hotfix, another
  // promotion) is someone's later decision, which a rollback must not overwrite.
  const current = await Promise.all(
    entry.tags.map((t) =>
      limit(async () =>
        t.previousUnreadable ? null : (await client.headManifest(t.repository, t.tag))?.digest,
      ),
    ),
  );
  const ours = entry.tags.filter((t, i) => t.previousUnreadable || current[i] === t.next);
  // The rest name something else now: the digest from before the promotion (put back already),
  // or a later change.
  const others = entry.tags.flatMap((t, i) =>
    !t.previousUnreadable && current[i] !== t.next
      ? [{ name: `${t.repository}:${t.tag}`, back: (current[i] ?? null) === t.previous }]
      : [],
  );
  const alreadyBack = others.filter((o) => o.back).map((o) => o.name);
  const movedSince = others.filter((o) => !o.back).map((o) => o.name);
  const restoring = ours.filter((t) => t.previous !== null && !t.previousUnreadable);
  const writes: TagWrite[] = await Promise.all(
    restoring.map((t) =>
      limit(async () => {
        const manifest = await client.getManifest(t.repository, t.previous!).catch((e: unknown) => {
          throw new RegistryError(
            `${client.registry}/${t.repository}@${t.previous}`,
            `cannot restore ${t.tag}: the previous manifest is gone (${(e as Error).message})`,
          );
        });
        return {
          repository: t.repository,
          tag: t.tag,
          manifest: { digest: manifest.digest, mediaType: manifest.mediaType, bytes: manifest.bytes },
        };
      }),
    ),
  );
  const flip = await putTagsGuarded(client, writes);
  const removed: string[] = [];
  const leftInPlace: string[] = [];
  for (const t of ours.filter((x) => x.previous === null && !x.previousUnreadable)) {
    const outcome = await client.deleteTag(t.repository, t.tag);
    (outcome === 'deleted' ? removed : leftInPlace).push(`${t.repository}:${t.tag}`);
  }
  const record = recordRepository ? await removeRecord(client, recordRepository, entry.release) : undefined;
  const done = await writeEntry(dir, journal, { ...entry, rolledBackAt: new Date().toISOString() });
  const unknownBefore = entry.tags.filter((t) => t.previousUnreadable).map((t) => `${t.repository}:${t.tag}`);
  return {
    entry: done,
    flip,
    restored: writes.length,
    removed,
    leftInPlace,
    unknownBefore,
    movedSince,
    alreadyBack,
    ...(record ? { record } : {}),
  };
}

/**
 * The record the rolled-back promotion wrote at the target goes too: the target no longer holds
 * that release, and a record left there would have `arbor releases` say it does. A later promotion
 * of the release writes it again.
 */
async function removeRecord(
  client: RegistryClient,
  repository: string,
  release: string,
): Promise<'removed' | 'absent' | 'left'> {
  const head = await client.headManifest(repository, release);
  if (!head) return 'absent';
  const outcome = await client.deleteManifest(repository, head.digest);
  return outcome === 'deleted' ? 'removed' : outcome === 'not-found' ? 'absent' : 'left';
}
