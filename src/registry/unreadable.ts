// A manifest or tag the registry cannot read. CNCF distribution's filesystem driver writes link
// files in place: a registry killed in the middle of a manifest or tag PUT can keep the link empty,
// and then answers 500 for that manifest or tag ever after, until a PUT writes the link again.
// Observers that will write the reference anyway (plan, promote, sync, apply) take such an answer
// as "unreadable: write it again" instead of failing every later run: a rerun after a crash must
// converge (blobs.ts reads the same answer for a blob as absent: it is sent again). Only 500: a
// 502, 503 or 504 says the registry is unavailable, not that the reference is damaged, and still
// fails (what an unreadable tag named before is lost; an outage must not cost that).
import type { LimitFunction } from 'p-limit';
import type { RegistryClient } from './client.js';
import { RegistryError } from './errors.js';
import type { ManifestHead } from './manifest-model.js';

export const UNREADABLE = 'unreadable';
/** The one answer taken as "unreadable" (after the client's retries). */
export const UNREADABLE_STATUS = 500;

/** Whether `e` is the registry's answer for a reference it cannot read. */
export function isUnreadable(e: unknown): e is RegistryError {
  return e instanceof RegistryError && e.status === UNREADABLE_STATUS;
}

/** The HEAD of a tag or manifest; UNREADABLE when the registry answers 500 after the client's retries. */
export async function headOrUnreadable(
  client: Pick<RegistryClient, 'headManifest'>,
  repository: string,
  reference: string,
  expected?: ManifestHead,
): Promise<ManifestHead | null | typeof UNREADABLE> {
  try {
    return await client.headManifest(repository, reference, expected);
  } catch (e) {
    if (isUnreadable(e)) return UNREADABLE;
    throw e;
  }
}

/**
 * The HEAD of each of `tags` (each through `limit`, conditional on `expected`), null for a tag
 * absent or unreadable, and which were unreadable.
 */
export async function headTags(
  client: Pick<RegistryClient, 'headManifest'>,
  repository: string,
  tags: readonly string[],
  expected: ManifestHead,
  limit: LimitFunction,
): Promise<{ heads: Array<ManifestHead | null>; unreadable: string[] }> {
  const answers = await Promise.all(
    tags.map((tag) => limit(() => headOrUnreadable(client, repository, tag, expected))),
  );
  return {
    heads: answers.map((h) => (h === UNREADABLE ? null : h)),
    unreadable: tags.filter((_, i) => answers[i] === UNREADABLE),
  };
}
