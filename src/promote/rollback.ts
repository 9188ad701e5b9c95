// `arbor promote rollback --to NAME`: the tags the last promotion to a target moved go back to the
// digests they had before it, all in one burst. A tag the promotion created is deleted where the
// registry can delete a tag alone; otherwise (distribution deletes manifests, not tags) it stays
// and is named. So does a tag the promotion found unreadable (what it named before is unknown).
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
}

export async function rollback(
  client: RegistryClient,
  journal: Journal,
  dir: string,
): Promise<RollbackResult | null> {
  const entry = lastUndoable(journal);
  if (!entry) return null;
  const writes: TagWrite[] = [];
  for (const t of entry.tags) {
    if (t.previous === null || t.previousUnreadable) continue;
    const manifest = await client.getManifest(t.repository, t.previous).catch((e: unknown) => {
      throw new RegistryError(
        `${client.registry}/${t.repository}@${t.previous}`,
        `cannot restore ${t.tag}: the previous manifest is gone (${(e as Error).message})`,
      );
    });
    writes.push({
      repository: t.repository,
      tag: t.tag,
      manifest: { digest: manifest.digest, mediaType: manifest.mediaType, bytes: manifest.bytes },
    });
  }
  const flip = await putTagsGuarded(client, writes);
  const removed: string[] = [];
  const leftInPlace: string[] = [];
  for (const t of entry.tags.filter((x) => x.previous === null && !x.previousUnreadable)) {
    const outcome = await client.deleteTag(t.repository, t.tag);
    (outcome === 'deleted' ? removed : leftInPlace).push(`${t.repository}:${t.tag}`);
  }
  const done = await writeEntry(dir, journal, { ...entry, rolledBackAt: new Date().toISOString() });
  const unknownBefore = entry.tags.filter((t) => t.previousUnreadable).map((t) => `${t.repository}:${t.tag}`);
  return { entry: done, flip, restored: writes.length, removed, leftInPlace, unknownBefore };
}
