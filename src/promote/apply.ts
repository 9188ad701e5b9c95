// Carrying out a promotion plan. Per target: the copies (blobs the target lacks — HEAD, mount,
// streamed from the source, each once — then manifests by digest, then the artifacts that refer to
// them), the journal of the tags about to move, every tag in one burst, the release record at the
// target, and the target's retention rules last. Across targets: every target's copies first (the
// targets of different registries at once), then every target's burst, then retention. No tag moves
// anywhere before every target has everything, and no retention runs after any failure.
import pLimit from 'p-limit';
import type { Config, PromoteTarget } from '../config/model.js';
import { ArborError } from '../errors.js';
import type { RegistryClients } from '../plan/clients.js';
import type { RegistryClient } from '../registry/client.js';
import { putTagsGuarded } from '../registry/deletion-guard.js';
import { RegistryError } from '../registry/errors.js';
import type { ReleaseRecord } from '../release/record.js';
import { releasesRepository, type StagedRecord, stageRecord, tagRecord } from '../release/store.js';
import { applyRetention } from '../retention/index.js';
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
import type { PromoteImage, PromotePlan, TargetPlan } from './model.js';
import { recordAtTarget } from './plan.js';

export interface TargetOutcome {
  target: string;
  totals: CopyTotals;
  flip: FlipResult;
  referrersCopied: number;
  /** Deletions made, and those the re-check kept (each with why). */
  retention?: { deleted: number; kept: string[] };
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
  const planned = request.plan.targets.map((plan) => ({
    plan,
    target: request.targets.find((t) => t.name === plan.target)!,
  }));
  // A failure at one target stops the copies to the others (and is the one reported).
  const stop = new AbortController();
  const signal = request.signal ? AbortSignal.any([request.signal, stop.signal]) : stop.signal;
  const copying = { ...request, signal };
  // Targets that share a blob ledger (one registry's, planner.ts) one after another: the later ones
  // mount what the earlier ones received.
  const copied = (
    await settleAll(
      bySharedLedger(planned, request.ledgers).map(async (group) => {
        const done: PreparedTarget[] = [];
        for (const { target, plan } of group) done.push(await prepareTarget(copying, target, plan));
        return done;
      }),
      stop,
    )
  ).flat();
  // Back in the plan's order of targets, which the outcomes keep.
  const prepared = planned.map(({ target }) => copied.find((p) => p.target === target)!);
  // Every target has everything: the bursts, at once (none is stopped halfway by another's failure).
  const flipped = await settleAll(
    prepared.map((p) => flipTarget(request, p)),
    stop,
  );
  // Retention last, and only when every burst went through: not after an interrupt either.
  if (request.signal?.aborted) return flipped;
  const retention = await settleAll(
    prepared.map((p) => targetRetention(p.target, p.plan, p.client)),
    stop,
  );
  return flipped.map((outcome, i) => {
    const kept = retention[i];
    return kept ? { ...outcome, retention: kept } : outcome;
  });
}

/** The planned targets grouped by the blob ledger they share (a target without one alone), in order. */
function bySharedLedger<T extends { target: PromoteTarget }>(
  planned: readonly T[],
  ledgers: ReadonlyMap<string, BlobLedger> | undefined,
): T[][] {
  const groups = new Map<BlobLedger | T, T[]>();
  for (const p of planned) {
    const key = ledgers?.get(p.target.name) ?? p;
    const group = groups.get(key);
    if (group) group.push(p);
    else groups.set(key, [p]);
  }
  return [...groups.values()];
}

/**
 * Every promise's value, once all have settled. Otherwise the first failure, thrown once the others
 * have stopped: `stop` is aborted with it at once (what the others then throw is not the cause).
 */
async function settleAll<T>(promises: ReadonlyArray<Promise<T>>, stop: AbortController): Promise<T[]> {
  let first: { reason: unknown } | undefined;
  const settled = await Promise.allSettled(
    promises.map((p) =>
      p.catch((e: unknown) => {
        first ??= { reason: e };
        stop.abort(e);
        throw e;
      }),
    ),
  );
  if (first) throw first.reason;
  return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** A target whose copies are done, and what its burst will write. */
interface PreparedTarget {
  target: PromoteTarget;
  plan: TargetPlan;
  client: RegistryClient;
  totals: CopyTotals;
  referrersCopied: number;
  writes: TagWrite[];
  journalTags: JournalTag[];
  /** Absent when nothing of the release is published at the target: no record claims it was. */
  staged?: StagedRecord;
}

/** The copies to one target, its record staged, and the tag writes of its burst. */
async function prepareTarget(
  request: PromoteApplyRequest,
  target: PromoteTarget,
  plan: TargetPlan,
): Promise<PreparedTarget> {
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
  const staging = plan.publishesNothing
    ? Promise.resolve(undefined)
    : stageRecord(
        client,
        releasesRepository(target.registry.namespace, request.config.releases.repository),
        recordAtTarget(request.record, target),
      );
  // Awaited below; a failure meanwhile must not be an unhandled rejection.
  staging.catch(() => undefined);
  // The manifests the tags will name, read from the source while the copies run (a release moves
  // a tag on every image: these reads are most of a promotion that copies little).
  const tagged = plan.images.filter((image) => image.tagsToWrite.length > 0);
  const reads = pLimit(16);
  const reading = Promise.all(
    tagged.map((image) =>
      reads(() =>
        image.action === 'copy'
          ? request.source.tagBody(image.sourceRepository, image.digest)
          : tagBodyOrTargets(
              request.source,
              client,
              image.sourceRepository,
              image.targetRepository,
              image.digest,
            ),
      ),
    ),
  );
  // Awaited below; a failure meanwhile must not be an unhandled rejection.
  reading.catch(() => undefined);
  let referrersCopied = 0;
  if (copies.length > 0) step(`copying ${copies.length} image(s)`);
  // Read before adding: `x += await …` would add to the count as it was before the await,
  // losing what the images copied meanwhile counted.
  const referrersOf = async (image: PromoteImage) => {
    const copied = await copyReferrers(
      request.source,
      client,
      image.sourceRepository,
      image.targetRepository,
      image.digest,
      ledger,
      totals,
      withSignal(request.signal),
    );
    referrersCopied += copied;
  };
  await Promise.all(
    copies.map((image) =>
      limit(async () => {
        request.signal?.throwIfAborted();
        const copy = await request.source.image(image.sourceRepository, image.digest);
        await copyImageTo(client, image.targetRepository, copy, ledger, totals, withSignal(request.signal));
        await referrersOf(image);
      }),
    ),
  );
  // Images the target holds already whose signatures, SBOM or provenance came later.
  const referred = plan.images.filter((i) => i.action !== 'copy' && (i.referrersMissing ?? 0) > 0);
  await Promise.all(referred.map((image) => limit(() => referrersOf(image))));
  request.signal?.throwIfAborted();
  // What the burst writes, and for the journal what each tag named before it.
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
  const staged = await staging;
  return { target, plan, client, totals, referrersCopied, writes, journalTags, staged };
}

/** The journal of one target's tags about to move, its burst, and its record's tag. */
async function flipTarget(request: PromoteApplyRequest, prepared: PreparedTarget): Promise<TargetOutcome> {
  const { target, client, writes } = prepared;
  // Only the newest entry matters here: an unfinished run of this release is continued.
  const dir = journalDir(request.config.root, target.name);
  let journal = await readJournal(dir, target.name, target.registry.url, { newest: 1 });
  if (writes.length > 0) {
    journal = beginEntry(journal, request.record.release, prepared.journalTags, new Date().toISOString());
    journal = await storeLast(dir, journal);
    request.onStep?.(target.name, `flipping ${writes.length} tag(s)`);
  }
  const flip = await putTagsGuarded(client, writes);
  if (prepared.staged) await tagRecord(client, prepared.staged);
  // The entry of an earlier run of this release cut short after its flip is closed too: its tags
  // are all in place (this plan found them so), only the record was missing.
  if (writes.length > 0 || unfinishedEntry(journal, request.record.release))
    await storeLast(dir, completeEntry(journal, new Date().toISOString()));
  return { target: target.name, totals: prepared.totals, flip, referrersCopied: prepared.referrersCopied };
}

/** Writes the journal's newest entry; the journal with that entry's id. */
async function storeLast(dir: string, journal: Journal): Promise<Journal> {
  const stored = await writeEntry(dir, journal, journal.entries.at(-1)!);
  return { ...journal, entries: [...journal.entries.slice(0, -1), stored] };
}

/**
 * The bytes a tag will name, for an image the target holds already: from the source (or the digest
 * cache) as always, else, when the source no longer has it, from the target itself. The digest
 * names the same bytes wherever they are read, and a release deleted at the source after it was
 * copied is still whole at the target.
 */
async function tagBodyOrTargets(
  source: SourceManifests,
  target: RegistryClient,
  sourceRepository: string,
  targetRepository: string,
  digest: string,
) {
  try {
    return await source.tagBody(sourceRepository, digest);
  } catch (e) {
    if (!(e instanceof RegistryError && e.status === 404)) throw e;
    const manifest = await target.getManifest(targetRepository, digest);
    return { digest: manifest.digest, mediaType: manifest.mediaType, bytes: manifest.bytes };
  }
}

function withSignal(signal: AbortSignal | undefined) {
  return signal ? { signal } : {};
}

/**
 * The target's own retention, after everything else succeeded: exactly the deletions the plan
 * showed (evaluated on the target as the burst leaves it). Each digest is re-checked just before
 * it is deleted (retention/apply.ts): one a tag reached since the plan stays. Evaluating the rules
 * again now would not do: a manifest the burst left without a tag is invisible to a tag listing,
 * so a deletion the plan showed would be dropped and that manifest never seen again.
 */
async function targetRetention(target: PromoteTarget, plan: TargetPlan, client: RegistryClient) {
  if (target.retention.length === 0) return undefined;
  const planned = plan.retention ?? [];
  if (planned.length === 0) return { deleted: 0, kept: [] as string[] };
  const result = await applyRetention(planned, client);
  const deleted = result.results.filter((r) => r.status === 'deleted' || r.status === 'already-gone').length;
  const kept = result.results
    .filter((r) => r.status !== 'deleted' && r.status !== 'already-gone')
    .map((r) => `${r.deletion.repository}@${r.deletion.digest.slice(0, 19)}: ${r.detail ?? r.status}`);
  return { deleted, kept };
}
