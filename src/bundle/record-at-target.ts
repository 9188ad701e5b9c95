// A bundle of a whole release carries its record; after the tags flipped, `bundle push` writes it
// at the target as promote does — the same images and digests, the target's registry, namespace
// and repositories — so `arbor releases` there lists the release, and a later bundle can be made
// `--since` it. Unchanged records are not written again.
import { DEFAULT_RELEASES_REPOSITORY } from '../config/build.js';
import type { RegistryClient } from '../registry/client.js';
import { type ReleaseRecord, recordIn, sameContent } from '../release/record.js';
import { readRecord, releasesRepository, writeRecord } from '../release/store.js';

export interface RecordOutcome {
  release: string;
  /** `registry/repository:release` */
  where: string;
  written: boolean;
}

export async function recordAtTarget(
  client: RegistryClient,
  namespace: string,
  record: ReleaseRecord,
): Promise<RecordOutcome> {
  const atTarget = recordIn(record, client.registry, namespace);
  const repository = releasesRepository(namespace, DEFAULT_RELEASES_REPOSITORY);
  const where = `${client.registry}/${repository}:${record.release}`;
  const existing = await readRecord(client, repository, record.release).catch(() => null);
  if (existing && sameContent(existing.record, atTarget))
    return { release: record.release, where, written: false };
  await writeRecord(client, repository, atTarget);
  return { release: record.release, where, written: true };
}
