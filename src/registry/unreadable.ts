// A manifest or tag the registry cannot read. CNCF distribution's filesystem driver writes link
// files in place: a registry killed in the middle of a manifest or tag PUT can keep the link empty,
// and then answers 500 for that manifest or tag ever after, until a PUT writes the link again.
// Observers that will write the reference anyway (plan, promote, sync, apply) take such an answer
// as "unreadable: write it again" instead of failing every later run: a rerun after a crash must
// converge. Only 500: a 502, 503 or 504 says the registry is unavailable, not that the reference
// is damaged, and still fails (what an unreadable tag named before is lost; an outage must not
// cost that).
import type { RegistryClient } from './client.js';
import { RegistryError } from './errors.js';
import type { ManifestHead } from './manifest-model.js';

export const UNREADABLE = 'unreadable';

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
    if (e instanceof RegistryError && e.status === 500) return UNREADABLE;
    throw e;
  }
}
