// A release of the tree named on the command line (`--release R`): its record in the tree's
// registry, or one clear error naming where it was looked for.
import type { Config } from '../config/model.js';
import { ArborError } from '../errors.js';
import type { RegistryClient } from '../registry/client.js';
import type { ReleaseRecord } from './record.js';
import { readRecord, releasesRepository } from './store.js';

export async function treeRelease(
  client: RegistryClient,
  config: Config,
  name: string,
): Promise<ReleaseRecord> {
  const repository = releasesRepository(config.registry.namespace, config.releases.repository);
  const stored = await readRecord(client, repository, name);
  if (!stored)
    throw new ArborError(
      `release ${name} has no record at ${client.registry}/${repository} (arbor releases lists the recorded ones)`,
    );
  return stored.record;
}
