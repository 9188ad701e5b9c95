// Carrying out a promotion plan, per target: the copies (blobs the target lacks — HEAD, mount,
// streamed from the source, each once — then manifests by digest, then the artifacts that refer to
// them), the journal of the tags about to move, every tag in one burst, the release record at the
// target, and the target's retention rules last. Nothing is tagged before everything is there.
import pLimit from 'p-limit';
import type { Config, PromoteTarget } from '../config/model.js';
import { ArborError } from '../errors.js';
import type { RegistryClients } from '../plan/clients.js';
import type { RegistryClient } from '../registry/client.js';
import { putTagsGuarded } from '../registry/deletion-guard.js';
import type { ReleaseRecord } from '../release/record.js';
import { releasesRepository, stageRecord, tagRecord } from '../release/store.js';
import { applyRetention, planRetention } from '../retention/index.js';
import { copyImageTo } from '../transfer/copy-image.js';
import { copyReferrers } from '../transfer/copy-referrers.js';
import type { FlipResult, TagWrite } from '../transfer/flip.js';
import { BlobLedger } from '../transfer/ledger.js';
import { type CopyTotals, emptyTotals } from '../transfer/model.js';
import type { SourceManifests } from '../transfer/source-manifests.js';
import {
  beginEntry,
  completeEntry,
  type Journal,
  type JournalTag,
  journalDir,
  readJournal,
  unfinishedEntry,
  writeEntry,
} from './journal.js';
import type { PromotePlan, TargetPlan } from './model.js';

export interface TargetOutcome {
  target: string;
  totals: CopyTotals;
  flip: FlipResult;
  referrersCopied: number;
  retention?: { deleted: number; skipped: number };
}

export interface PromoteApplyRequest {
  config: Config;
  plan: PromotePlan;
  record: ReleaseRecord;
  source: SourceManifests;
  targets: PromoteTarget[];
  clients: RegistryClients;
  /** Per target name: what planning learnt of its blobs (planner.ts); a fresh ledger otherwise. */
  ledgers?: ReadonlyMap<string, BlobLedger>;
  signal?: AbortSignal;
  onStep?: (target: string, step: string) => void;
}

export async function applyPromotion(request: PromoteApplyRequest): Promise<TargetOutcome[]> {
  const blocked = request.plan.targets.filter((t) => t.problems.length > 0);
  if (blocked.length > 0)
    throw new ArborError(
      blocked.flatMap((t) =>
        t.problems.map((p) => ({ severity: 'error' as const, message: `${t.target}: ${p}` })),
      ),
    );
  const outcomes: TargetOutcome[] = [];
  for (const targetPlan of request.plan.targets) {
    const target = request.targets.find((t) => t.name === targetPlan.target)!;
    outcomes.push(await promoteTo(request, target, targetPlan));
  }
  return outcomes;
}

async function promoteTo(
  request: PromoteApplyRequest,
  target: PromoteTarget,
  plan: TargetPlan,
): Promise<TargetOutcome> {
  const client = request.clients.forRegistry(target.registry);
  const step = (s: string) => request.onStep?.(target.name, s);
  const totals = emptyTotals();
  const ledger = request.ledgers?.get(target.name) ?? new BlobLedger();
  // Images copied at once, each with up to 4 blobs in flight (copyImageTo): a release's changed
  // images are mostly small leaves, whose copies are a few short requests each. The client's
  // connections (8 per registry) bound the transfers themselves.
  const limit = pLimit(16);
  const copies = plan.images.filter((i) => i.action === 'copy');
  // The target's record goes up beside the copies, untagged; after the flip only its tag is put.
  const staging = stageRecord(
    client,
    releasesRepository(target.registry.namespace, request.config.releases.repository),
    atTarget(request.record, target, plan),
  );
  // Awaited below; a failure meanwhile must not be an unhandled rejection.
  staging.catch(() => undefined);
  // The manifests the tags will name, read from the source while the copies run (a release moves
  // a tag on every image: these reads are most of a promotion that copies little).
  const tagged = plan.images.filter((image) => image.tagsToWrite.length > 0);
  const reads = pLimit(16);
  const reading = Promise.all(
    tagged.map((image) => reads(() => request.source.tagBody(image.sourceRepository, image.digest))),
  );
  // Awaited below; a failure meanwhile must not be an unhandled rejection.
  reading.catch(() => undefined);
  let referrersCopied = 0;
  if (copies.length > 0) step(`copying ${copies.length} image(s)`);
  await Promise.all(
    copies.map((image) =>
      limit(async () => {
        request.signal?.throwIfAborted();
        const copy = await request.source.image(image.sourceRepository, image.digest);
        await copyImageTo(client, image.targetRepository, copy, ledger, totals, withSignal(request.signal));
        referrersCopied += await copyReferrers(
          request.source,
          client,
          image.sourceRepository,
          image.targetRepository,
          image.digest,
          ledger,
          totals,
          withSignal(request.signal),
        );
      }),
    ),
  );
  request.signal?.throwIfAborted();
  // The journal first: if the flip is cut short, what each tag pointed at before is known.
  const writes: TagWrite[] = [];
  const journalTags: JournalTag[] = [];
  const manifests = await reading;
  for (const [i, image] of tagged.entries()) {
    const manifest = manifests[i]!;
    for (const tag of image.tagsToWrite) {
      writes.push({
        repository: image.targetRepository,
        tag,
        manifest: { digest: manifest.digest, mediaType: manifest.mediaType, bytes: manifest.bytes },
      });
      const key = `${image.targetRepository}:${tag}`;
      journalTags.push({
        repository: image.targetRepository,
        tag,
        previous: plan.observed[key] ?? null,
        ...(plan.unreadable?.includes(key) ? { previousUnreadable: true as const } : {}),
        next: image.digest,
      });
    }
  }
  // Only the newest entry matters here: an unfinished run of this release is continued.
  const dir = journalDir(request.config.root, target.name);
  let journal = await readJournal(dir, target.name, target.registry.url, { newest: 1 });
  if (writes.length > 0) {
    journal = beginEntry(journal, request.record.release, journalTags, new Date().toISOString());
    journal = await storeLast(dir, journal);
    step(`flipping ${writes.length} tag(s)`);
  }
  const staged = await staging;
  const flip = await putTagsGuarded(client, writes);
  await tagRecord(client, staged);
  // The entry of an earlier run of this release cut short after its flip is closed too: its tags
  // are all in place (this plan found them so), only the record was missing.
  if (writes.length > 0 || unfinishedEntry(journal, request.record.release))
    await storeLast(dir, completeEntry(journal, new Date().toISOString()));
  const retention = await targetRetention(request.config, target, plan, client);
  return { target: target.name, totals, flip, referrersCopied, ...(retention ? { retention } : {}) };
}

/** Writes the journal's newest entry; the journal with that entry's id. */
async function storeLast(dir: string, journal: Journal): Promise<Journal> {
  const stored = await writeEntry(dir, journal, journal.entries.at(-1)!);
  return { ...journal, entries: [...journal.entries.slice(0, -1), stored] };
}

function withSignal(signal: AbortSignal | undefined) {
  return signal ? { signal } : {};
}

/** The release as the target holds it: the same digests, the target's repositories and tags. */
function atTarget(record: ReleaseRecord, target: PromoteTarget, plan: TargetPlan): ReleaseRecord {
  const byName = new Map(plan.images.map((i) => [i.name, i]));
  return {
    ...record,
    registry: target.registry.url,
    namespace: target.registry.namespace,
    images: record.images
      .filter((i) => (byName.get(i.name)?.tags.length ?? 0) > 0)
      .map((i) => ({
        ...i,
        repository: byName.get(i.name)!.targetRepository,
        tags: byName.get(i.name)!.tags,
      })),
  };
}

/** The target's own retention rules, after everything else succeeded; the release's tags are never candidates. */
async function targetRetention(
  config: Config,
  target: PromoteTarget,
  plan: TargetPlan,
  client: RegistryClient,
) {
  if (target.retention.length === 0) return undefined;
  const view: Config = { ...config, registry: target.registry, retention: target.retention };
  const protectedTags = plan.images.map((i) => ({ repository: i.targetRepository, tags: i.tags }));
  const deletions = await planRetention(view, protectedTags, client, new Date(), {
    cacheDir: false,
  });
  if (deletions.length === 0) return { deleted: 0, skipped: 0 };
  const result = await applyRetention(deletions, client);
  const deleted = result.results.filter((r) => r.status === 'deleted').length;
  return { deleted, skipped: result.results.length - deleted };
}
