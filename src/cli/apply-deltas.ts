// After an apply that built images: layer deltas of their new layers against the same images of
// the previous release (the record the release name held before this apply, else the newest other
// release), published beside them for `arbor sync` (src/delta/publish.ts). Computed once here,
// used by every site. Never fails the apply: a pair that cannot be computed is reported.

import { DeltaPublishCache, type LayerDeltaResult, publishDeltas } from '../delta/publish.js';
import { summarizeDeltas } from '../delta/summary.js';
import type { ApplyReport } from '../execute/apply.js';
import type { DesiredState } from '../plan/desired.js';
import type { RegistryClient } from '../registry/client.js';
import { releaseName } from '../release/from-registry.js';
import type { ReleaseRecord } from '../release/record.js';
import { listReleases, readRecord, releasesRepository } from '../release/store.js';
import type { GitInfo } from '../render/git.js';

/** The release this apply's images are diffed against. */
async function previousRelease(
  client: RegistryClient,
  repository: string,
  name: string,
): Promise<ReleaseRecord | undefined> {
  const same = await readRecord(client, repository, name).catch(() => null);
  if (same) return same.record;
  const other = (await listReleases(client, repository).catch(() => [])).find((r) => r.release !== name);
  return other
    ? ((await readRecord(client, repository, other.release).catch(() => null))?.record ?? undefined)
    : undefined;
}

export async function publishApplyDeltas(request: {
  desired: DesiredState;
  client: RegistryClient;
  git: GitInfo;
  report: ApplyReport;
}): Promise<string | undefined> {
  const { desired, client, report } = request;
  if (!desired.config.releases.deltas) return undefined;
  const built = report.outcomes.filter((o) => (o.status === 'built' || o.status === 'refreshed') && o.digest);
  if (built.length === 0) return undefined;
  const repository = releasesRepository(
    desired.config.registry.namespace,
    desired.config.releases.repository,
  );
  const previous = await previousRelease(client, repository, releaseName(desired, request.git));
  if (!previous) return 'Deltas: none (no earlier release to compare with).';
  const cache = new DeltaPublishCache();
  const compressedByArbor = new Set(report.compressedLayers);
  const results: LayerDeltaResult[] = [];
  for (const outcome of built) {
    const before = previous.images.find((i) => i.name === outcome.name);
    if (!before || before.digest === outcome.digest) continue;
    const want = desired.images.get(outcome.name)!;
    try {
      const [manifest, old] = await Promise.all([
        client.getManifest(want.repositoryPath, outcome.digest!),
        client.getManifest(before.repository, before.digest),
      ]);
      results.push(
        ...(await publishDeltas(
          client,
          want.repositoryPath,
          manifest,
          [{ repository: before.repository, manifest: old }],
          {
            cache,
            compressedByArbor,
          },
        )),
      );
    } catch (e) {
      results.push({
        platform: '',
        subject: outcome.digest!,
        target: '',
        targetSize: 0,
        outcome: 'failed',
        reason: `${outcome.name}: ${(e as Error).message.split('\n')[0]}`,
        seconds: 0,
      });
    }
  }
  return summarizeDeltas(previous.release, results);
}
