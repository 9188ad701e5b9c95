// Promotion planning end to end: the release record from the tree's registry, signatures when
// required, then for every target at once what it holds, its gate (one gate at a time), and the
// pure plan.
import pLimit from 'p-limit';
import type { Config, PromoteTarget } from '../config/model.js';
import { ArborError, type Diagnostic, error } from '../errors.js';
import type { RegistryClients } from '../plan/clients.js';
import type { PlannedDeletion } from '../plan/model.js';
import type { RegistryClient } from '../registry/client.js';
import { digestOf } from '../registry/digest.js';
import type { DigestCache } from '../registry/digest-cache.js';
import { headOrUnreadable, UNREADABLE } from '../registry/unreadable.js';
import type { ReleaseRecord } from '../release/record.js';
import { readRecord, recordManifest, releasesRepository, type StoredRecord } from '../release/store.js';
import { BlobLedger } from '../transfer/ledger.js';
import { manifestReadsToCome, SourceManifests } from '../transfer/source-manifests.js';
import { runGate } from './gate.js';
import { journalDir, readJournal, unfinishedEntry } from './journal.js';
import {
  PROMOTE_PLAN_FORMAT_VERSION,
  type PromoteImage,
  type PromotePlan,
  type TargetPlan,
} from './model.js';
import { observeTarget } from './observe.js';
import {
  planSourceBudget,
  planTarget,
  recordAtTarget,
  retentionProtects,
  withMissingReferrers,
  withRetention,
} from './plan.js';

export interface PromotePlanRequest {
  config: Config;
  configFile: string;
  clients: RegistryClients;
  release: string;
  /** `--to`: target names; all when empty. */
  to: readonly string[];
  /** Checks signatures of the release's images (require_signature); returns problems. */
  checkSignatures?: (record: ReleaseRecord) => Promise<string[]>;
  /** The plan is to be applied: read what the flip needs from the source meanwhile (observe.ts). */
  prefetch?: boolean;
  /** The client a target's tags are HEADed through (one answering prefetched HEADs, prefetch.ts). */
  observeClient?: (target: PromoteTarget) => RegistryClient | undefined;
  /** Where source manifests are kept between runs (SourceManifests); none: always the source. */
  manifestCache?: DigestCache;
  /** Aborted on Ctrl-C: a gate command running is stopped, with what it started. */
  signal?: AbortSignal;
}

export interface PlannedPromotion {
  plan: PromotePlan;
  stored: StoredRecord;
  source: SourceManifests;
  targets: PromoteTarget[];
  /**
   * Per target name: the blob HEADs planning sent there, for apply not to send them again (one
   * ledger for the targets on one registry).
   */
  ledgers: Map<string, BlobLedger>;
}

export function selectTargets(config: Config, to: readonly string[]): PromoteTarget[] {
  if (config.promote.length === 0)
    throw new ArborError([
      error('no promote targets in images.yaml (add a `promote:` list)', { loc: config.locate([]) }),
    ]);
  const unknown = to.filter((name) => !config.promote.some((t) => t.name === name));
  if (unknown.length > 0)
    throw new ArborError(
      unknown.map(
        (name): Diagnostic =>
          error(
            `unknown promote target "${name}" (images.yaml has ${config.promote.map((t) => t.name).join(', ')})`,
            {
              loc: config.locate(['promote']),
            },
          ),
      ),
    );
  return to.length === 0 ? config.promote : config.promote.filter((t) => to.includes(t.name));
}

export async function planPromotion(request: PromotePlanRequest): Promise<PlannedPromotion> {
  const { config, clients } = request;
  const targets = selectTargets(config, request.to);
  const home = clients.home;
  const repository = releasesRepository(config.registry.namespace, config.releases.repository);
  const stored = await readRecord(home, repository, request.release);
  if (!stored)
    throw new ArborError(
      `release ${request.release} has no record at ${home.registry}/${repository} (arbor releases lists them; apply writes one when it changes the tree)`,
    );
  const record = stored.record;
  const source = new SourceManifests(home, request.manifestCache);
  const signatureProblems =
    request.checkSignatures && targets.some((t) => t.requireSignature)
      ? await request.checkSignatures(record)
      : [];
  const ledgers = new Map<string, BlobLedger>();
  // Targets on one registry (two namespaces of one Docker Hub, say) share this run's memory of its
  // blobs: a blob one target received is mounted into the next target's repositories, not sent again.
  const byRegistry = new Map<string, BlobLedger>();
  for (const target of targets) {
    const ledger = byRegistry.get(target.registry.url) ?? new BlobLedger();
    byRegistry.set(target.registry.url, ledger);
    ledgers.set(target.name, ledger);
  }
  // Every target observed at once; their gates, the user's commands, one at a time.
  const gates = pLimit(1);
  const plans: TargetPlan[] = await Promise.all(
    targets.map(async (target) => {
      const client = clients.forRegistry(target.registry);
      const [gate, observed, recordHead] = await Promise.all([
        gates(() => runGate(target, record, source, config.root, request.signal)),
        observeTarget(target, request.observeClient?.(target) ?? client, record.images, source, {
          prefetch: request.prefetch ?? false,
          ledger: ledgers.get(target.name)!,
        }),
        // One HEAD: is the release's record there (a promotion cut short after its flip has none,
        // or an unreadable tag if the registry was killed while writing it: written again too)?
        headOrUnreadable(
          client,
          releasesRepository(target.registry.namespace, config.releases.repository),
          request.release,
        ),
      ]);
      const expectedRecord = digestOf(recordManifest(recordAtTarget(record, target)).bytes);
      const resuming = [...observed.values()].some((at) => at.unreadableTags)
        ? await resumedTags(config.root, target, record.release)
        : undefined;
      const copies = record.images.filter((i) => observed.get(i.name)?.manifestPresent === false);
      const referrals = await Promise.all(
        copies.map((i) => source.referrals(i.repository, i.digest, i.mediaType)),
      );
      // Each manifest something refers to: its referrers list at the target, and its fallback index.
      const withReferrers = referrals.reduce((n, list) => n + new Set(list.map((r) => r.subject)).size, 0);
      const rateLimit = client.rateLimit;
      const planned = planTarget({
        target,
        images: record.images,
        observed,
        ...(gate ? { gate } : {}),
        sourceProblems: target.requireSignature ? signatureProblems : [],
        ...(rateLimit ? { rateLimit } : {}),
        manifestGetsNeeded: withReferrers * 2,
        recordPresent:
          recordHead !== null && recordHead !== UNREADABLE && recordHead.digest === expectedRecord,
        // Another record under the release's name (another tree's, a hand-made one): written over.
        ...(recordHead !== null && recordHead !== UNREADABLE && recordHead.digest !== expectedRecord
          ? { recordOther: true }
          : {}),
        ...(resuming ? { resuming } : {}),
      });
      const referred = await missingReferrers(config, planned, source, client);
      return withRetention(
        withMissingReferrers(planned, referred),
        await targetRetentionPlan(config, target, planned, client),
      );
    }),
  );
  // The source's own budget, when it announces one (the CI registry on Docker Hub): the manifest
  // reads the copies and tags still make there, across every target (each is read once).
  const sourceLimit = home.rateLimit;
  const sourceBudget = sourceLimit
    ? planSourceBudget(
        home.registry,
        sourceLimit,
        await manifestReadsToCome(
          source,
          plans.flatMap((t) => t.images.filter((i) => i.tagsToWrite.length > 0).map(atSource)),
          plans.flatMap((t) => t.images.filter((i) => i.action === 'copy').map(atSource)),
        ),
      )
    : undefined;
  return {
    plan: {
      formatVersion: PROMOTE_PLAN_FORMAT_VERSION,
      kind: 'promote',
      createdAt: new Date().toISOString(),
      configFile: request.configFile,
      configDigest: config.configDigest,
      release: { name: record.release, registry: home.registry, repository, digest: stored.digest },
      ...(sourceBudget ? { source: sourceBudget } : {}),
      targets: plans,
    },
    stored,
    source,
    targets,
    ledgers,
  };
}

/**
 * For a tree that signs or attests its images (`signing:`), the artifacts referring to each image
 * the target holds already that are not there: a signature, SBOM or provenance added at the source
 * since that image was promoted (a new key, signing turned on later). Listed at the source (one
 * read per image), each looked for at the target with a HEAD. A tree without `signing:` attaches
 * nothing after the fact: it pays nothing here, and a no-op promotion stays HEADs only.
 */
async function missingReferrers(
  config: Config,
  plan: TargetPlan,
  source: SourceManifests,
  client: RegistryClient,
): Promise<Map<string, number>> {
  const missing = new Map<string, number>();
  if (!config.signing || plan.problems.length > 0) return missing;
  const limit = pLimit(8);
  await Promise.all(
    plan.images
      .filter((image) => image.action !== 'copy')
      .map((image) =>
        limit(async () => {
          const listed = await source.referrals(image.sourceRepository, image.digest, image.mediaType);
          const there = await Promise.all(
            listed.map((r) => client.headManifest(image.targetRepository, r.descriptor.digest)),
          );
          const lacking = there.filter((head) => head === null).length;
          if (lacking > 0) missing.set(image.name, lacking);
        }),
      ),
  );
  return missing;
}

/**
 * What the target's `retention:` will delete once this promotion's tags are in place: its rules
 * evaluated on the target as it will be after the flip (the release's tags are never candidates).
 * None for a target without rules, or one that cannot be promoted to.
 */
async function targetRetentionPlan(
  config: Config,
  target: PromoteTarget,
  plan: TargetPlan,
  client: RegistryClient,
): Promise<PlannedDeletion[]> {
  if (target.retention.length === 0 || plan.problems.length > 0) return [];
  const { planRetention } = await import('../retention/index.js');
  const view: Config = { ...config, registry: target.registry, retention: target.retention };
  return planRetention(view, retentionProtects(plan), client, new Date(), {
    cacheDir: false,
    tagMoves: plan.images.flatMap((i) =>
      i.tagsToWrite.map((tag) => ({ repository: i.targetRepository, tag, digest: i.digest })),
    ),
  });
}

const atSource = (image: PromoteImage) => ({
  repository: image.sourceRepository,
  digest: image.digest,
  mediaType: image.mediaType,
});

/** The tags an unfinished earlier run of this release's promotion to `target` was flipping. */
async function resumedTags(root: string, target: PromoteTarget, release: string) {
  const journal = await readJournal(journalDir(root, target.name), target.name, target.registry.url, {
    newest: 1,
  });
  const entry = unfinishedEntry(journal, release);
  return new Map((entry?.tags ?? []).map((t) => [`${t.repository}:${t.tag}`, t.next]));
}
