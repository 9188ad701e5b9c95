// Retention as the rest of arbor calls it: plan (observe the registry, evaluate the rules) and
// apply (safe deletion). `arbor plan`/`arbor apply` call planRetention/applyRetention; the
// `arbor retention` command uses the detailed form to show what is kept and why.
//
// Contract for the caller of applyRetention inside `arbor apply`: call it only after every build
// and push of the run succeeded. Deletion decisions assume that the tags images.yaml wants exist
// now; after a failed build they may not, and an older digest may be the only good one left.
import type { Config } from '../config/model.js';
import { repositoryPath } from '../config/repository.js';
import { ArborError, type Diagnostic } from '../errors.js';
import type { PlannedDeletion } from '../plan/model.js';
import { listCatalog } from '../registry/catalog.js';
import type { RegistryClient } from '../registry/client.js';
import { DigestCache, registryCacheDir } from '../registry/digest-cache.js';
import { evaluateRetention, type RetentionOutcome } from './evaluate.js';
import type { RepositoryHistory } from './model.js';
import { observeRepositories } from './observe.js';
import { needsCatalog, restrictSelections, selectRepositories } from './select.js';
import { TagHints, tagHintsDirBeside } from './tag-hints.js';
import { type TagMove, withTagMoves } from './tag-moves.js';

export {
  type ApplyRetentionOptions,
  type ApplyRetentionResult,
  applyRetention,
  type DeletionResult,
} from './apply.js';

/** What images.yaml wants: per repository (full `host/ns/name` or path `ns/name`), its tags and fingerprint tag. */
export type ProtectedTags = ReadonlyArray<{ repository: string; tags: readonly string[] }>;

export interface PlanRetentionOptions {
  /** Only repositories matching these globs (path or image name). */
  repositories?: readonly string[];
  /** Default 1 h. */
  gracePeriodMs?: number;
  concurrency?: number;
  /**
   * Where manifests and config blobs are cached by digest (default
   * `<config root>/.arbor/cache/registry`, tag hints beside it in `registry-tags`); false reads
   * every one from the registry.
   */
  cacheDir?: string | false;
  /** Warnings (a rule selecting nothing), with the rule's location. */
  onWarning?: (warning: Diagnostic) => void;
  /** When the registry says each tag was last pushed (Docker Hub: hubTagTimes). */
  tagPushTimes?: (repository: string) => Promise<ReadonlyMap<string, number>>;
  /** Evaluate as if these tags had moved already (a promotion's plan, before its flip). */
  tagMoves?: readonly TagMove[];
}

export interface RetentionPlan extends RetentionOutcome {
  histories: RepositoryHistory[];
}

/** The deletions retention would make now; throws an ArborError (every refusal at once) instead of a partial plan. */
export async function planRetention(
  config: Config,
  protectedTags: ProtectedTags,
  client: RegistryClient,
  now: Date = new Date(),
  options: PlanRetentionOptions = {},
): Promise<PlannedDeletion[]> {
  const plan = await planRetentionDetailed(config, protectedTags, client, now, options);
  for (const d of plan.diagnostics) if (d.severity === 'warning') options.onWarning?.(d);
  return plan.deletions;
}

export async function planRetentionDetailed(
  config: Config,
  protectedTags: ProtectedTags,
  client: RegistryClient,
  now: Date = new Date(),
  options: PlanRetentionOptions = {},
): Promise<RetentionPlan> {
  if (config.retention.length === 0) return { deletions: [], kept: [], diagnostics: [], histories: [] };
  const catalog = needsCatalog(config.retention) ? await listCatalog(client) : [];
  const selections = restrictSelections(
    selectRepositories(config, config.retention, catalog),
    options.repositories,
  );
  const cacheDir =
    options.cacheDir === false ? undefined : (options.cacheDir ?? registryCacheDir(config.root));
  const cache = cacheDir === undefined ? undefined : new DigestCache(cacheDir);
  const hints = cacheDir === undefined ? undefined : new TagHints(tagHintsDirBeside(cacheDir));
  const histories = await observeRepositories(client, selections, {
    ...(options.concurrency ? { concurrency: options.concurrency } : {}),
    ...(cache && hints ? { cache, hints } : {}),
    ...(options.tagPushTimes ? { tagPushTimes: options.tagPushTimes } : {}),
    now: now.getTime(),
  });
  // After the run's reads, so this run's entries count as just used; hints on the same daily turn.
  if (await cache?.pruneIfDue()) await hints?.prune();
  const outcome = evaluateRetention({
    rules: config.retention,
    repositories: options.tagMoves ? withTagMoves(histories, options.tagMoves, now.getTime()) : histories,
    protectedTags: protectedByPath(client.registry, protectedTags),
    now: now.getTime(),
    ...(options.gracePeriodMs !== undefined ? { gracePeriodMs: options.gracePeriodMs } : {}),
    repositoryPrefix: `${client.registry}/`,
  });
  if (outcome.diagnostics.some((d) => d.severity === 'error')) throw new ArborError(outcome.diagnostics);
  return { ...outcome, histories };
}

function protectedByPath(registry: string, wanted: ProtectedTags): Map<string, Set<string>> {
  const byPath = new Map<string, Set<string>>();
  for (const { repository, tags } of wanted) {
    const path = repository.startsWith(`${registry}/`) ? repository.slice(registry.length + 1) : repository;
    const set = byPath.get(path) ?? new Set<string>();
    for (const t of tags) set.add(t);
    byPath.set(path, set);
  }
  return byPath;
}

/** Protected tags from the desired images (rendered tags and fingerprint tag of each). */
export function protectedTagsOf(
  config: Pick<Config, 'registry'>,
  images: Iterable<{ name: string; tags: readonly string[]; fingerprintTag: string }>,
): ProtectedTags {
  return [...images].map((i) => ({
    repository: repositoryPath(config, i.name),
    tags: [...i.tags, i.fingerprintTag],
  }));
}
