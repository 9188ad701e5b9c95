// After an apply that changed the tree: the release record (docs/releases.md), written unless
// `releases.record: false`, only for the whole tree, and only when it differs from the record the
// release name already holds. Returns the line to print.
import type { DesiredState } from '../plan/desired.js';
import type { RegistryClient } from '../registry/client.js';
import { recordFromRegistry } from '../release/from-registry.js';
import { sameContent } from '../release/record.js';
import { readRecord, releasesRepository, writeRecord } from '../release/store.js';
import type { GitInfo } from '../render/git.js';

export async function recordRelease(request: {
  desired: DesiredState;
  client: RegistryClient;
  git: GitInfo;
}): Promise<string | undefined> {
  const { desired, client } = request;
  const settings = desired.config.releases;
  if (!settings.record) return undefined;
  // Whatever chose the part (`--only` now, or a saved plan made with it): a record of part of the
  // tree would replace the whole release's under its name.
  if (desired.order.length < desired.graph.size)
    return `Release: not recorded (this apply covered ${desired.order.length} of ${desired.graph.size} images, --only).`;
  const built = await recordFromRegistry({ desired, client, git: request.git });
  if ('missing' in built) return `Release: not recorded (not in the registry: ${built.missing.join(', ')}).`;
  const repository = releasesRepository(desired.config.registry.namespace, settings.repository);
  const where = `${client.registry}/${repository}:${built.record.release}`;
  const existing = await readRecord(client, repository, built.record.release).catch(() => null);
  if (existing && sameContent(existing.record, built.record))
    return `Release ${built.record.release}: unchanged (${where}).`;
  const digest = await writeRecord(client, repository, built.record);
  return `Release ${built.record.release} recorded: ${where} (${built.record.images.length} images, ${digest.slice(0, 19)}).`;
}
