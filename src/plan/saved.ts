// Saved plans: `arbor plan --out plan.json` then `arbor apply plan.json`. A saved plan is only
// applied while it still describes the world — same config, same fingerprints, every tag it read
// or will write still where the registry had it — and while it is exactly what its config gives:
// a plan edited into something else (a tag added, a digest swapped, a deletion slipped in) is
// refused, naming each difference. Otherwise apply refuses and says why.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import pLimit from 'p-limit';
import { displayPath } from '../display-path.js';
import { ArborError, briefMessage, quote } from '../errors.js';
import type { RegistryClient } from '../registry/client.js';
import { writeFileAtomic } from '../write-atomic.js';
import { computePlan, shortDigest } from './compute.js';
import type { DesiredState } from './desired.js';
import { PLAN_FORMAT_VERSION, type Plan, type PlannedDeletion } from './model.js';
import { observe } from './observe.js';
import { describeDifference, planDifferences } from './saved-diff.js';
import { renderJson } from './views/text.js';

/**
 * Saves the plan, and beside it (under the config root) the rendered Dockerfile of every image it
 * builds, at the path the plan names: plan.json plus .arbor/render/ is everything another build
 * system needs (`arbor export --format bake`).
 */
export async function savePlan(plan: Plan, path: string, desired: DesiredState): Promise<void> {
  await writeRenderedDockerfiles(plan, desired);
  await writeFileAtomic(path, renderJson(plan));
}

export async function writeRenderedDockerfiles(plan: Plan, desired: DesiredState): Promise<void> {
  for (const planned of plan.images) {
    if (planned.action !== 'build' || !planned.build) continue;
    const target = resolve(desired.config.root, planned.build.dockerfile);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, desired.images.get(planned.name)!.dockerfile);
  }
}

export async function loadPlan(path: string): Promise<Plan> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ArborError(`${path}: cannot read saved plan (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  let plan: Plan;
  try {
    plan = JSON.parse(text) as Plan;
  } catch (e) {
    throw new ArborError(`${path}: not a saved plan (invalid JSON: ${briefMessage((e as Error).message)})`);
  }
  if (typeof plan !== 'object' || plan === null || !Array.isArray(plan.images) || !plan.observed)
    throw new ArborError(`${path}: not a saved plan (missing images/observed)`);
  if (plan.formatVersion !== PLAN_FORMAT_VERSION)
    throw new ArborError(
      `${path}: plan format ${quote(String(plan.formatVersion), 20)} is not supported by this arbor (format ${PLAN_FORMAT_VERSION}); plan again`,
    );
  const problem = shapeProblem(plan);
  if (problem) throw new ArborError(`${path}: not a saved plan (${problem})`);
  return plan;
}

/** What the checks of a saved plan rely on before they can compare it field by field. */
function shapeProblem(plan: Plan): string | null {
  if (!plan.images.every((i) => typeof i === 'object' && i !== null && typeof i.name === 'string'))
    return 'every entry of images needs a name';
  if (!Array.isArray(plan.deletions)) return 'deletions must be a list';
  if (typeof plan.observed !== 'object' || Array.isArray(plan.observed)) return 'observed must be a mapping';
  if (!Object.values(plan.observed).every((d) => d === null || typeof d === 'string'))
    return 'observed maps each tag to a digest or null';
  if (typeof plan.createdAt !== 'string' || typeof plan.configFile !== 'string')
    return 'createdAt and configFile must be strings';
  return null;
}

export interface SavedPlanCheck {
  /**
   * The plan recomputed from what the saved plan records: its config (whose digest it names),
   * the registry state it observed, and retention's deletions. Apply carries out this one.
   */
  plan: Plan;
  /** Why the saved plan may not be applied; empty when it may. */
  problems: SavedPlanProblem[];
}

export interface SavedPlanProblem {
  /**
   * `stale`: the world moved since the plan (config, an input, a tag in the registry);
   * `differs`: the plan says something its own config and observations do not give (edited).
   */
  kind: 'stale' | 'differs';
  message: string;
}

export interface SavedPlanCheckOptions {
  /**
   * The deletions retention gives for the whole tree, evaluated at `now` (the plan's time, never
   * later than the real one). Needed only when the saved plan holds deletions.
   */
  retention?: (now: Date) => Promise<PlannedDeletion[]>;
  /** How plan.json is named in messages. */
  planName?: string;
}

/** At most this many differences are listed; the rest are counted. */
const DIFFERENCES_SHOWN = 20;

/**
 * Checks a saved plan before apply: nothing in it may be taken on trust. Fingerprints, tags and
 * actions are recomputed by the planner itself (computePlan) from the config and the registry
 * state the plan recorded, every field compared; every tag the plan reads is re-read from the
 * registry (it must not have moved); deletions must be exactly what retention gives for the
 * current registry at the plan's time (grace periods counted from then, never from a later,
 * edited time). `desired` must be the whole tree when the plan holds deletions.
 */
export async function checkSavedPlan(
  saved: Plan,
  desired: DesiredState,
  client: RegistryClient,
  options: SavedPlanCheckOptions = {},
): Promise<SavedPlanCheck> {
  const planName = options.planName ?? 'plan.json';
  const configName = displayPath(desired.config.file);
  const problems: SavedPlanProblem[] = [];
  const stale = (message: string) => problems.push({ kind: 'stale', message });
  if (saved.configDigest !== desired.config.configDigest)
    stale(`${configName}: config changed since the plan was made`);
  for (const image of saved.images) {
    const now = desired.images.get(image.name);
    if (!now) stale(`image ${image.name}: not in the config, or not in the plan's selection`);
    else if (now.fingerprint !== image.fingerprint)
      stale(
        `image ${image.name}: fingerprint changed since the plan (${image.fingerprintTag} → ${now.fingerprintTag})`,
      );
  }
  const createdAt = new Date(saved.createdAt);
  if (Number.isNaN(createdAt.getTime()))
    problems.push({
      kind: 'differs',
      message: `createdAt: ${JSON.stringify(saved.createdAt)} is not a time`,
    });
  // Against another config or other inputs every field would differ: say only why.
  if (problems.length > 0) return { plan: saved, problems };

  // Whatever the plan read must still be where the registry had it (a tag the plan records but
  // never reads is reported by the comparison below, and re-read here all the same).
  const limit = pLimit(16);
  const moved: string[] = [];
  const prefix = `${desired.config.registry.url}/`;
  // Only `registry/path:tag` of this config's registry: anything else is no tag the planner
  // reads, and the comparison names it.
  const readable = Object.entries(saved.observed).filter(
    ([ref]) => ref.startsWith(prefix) && ref.lastIndexOf(':') > ref.lastIndexOf('/'),
  );
  await Promise.all(
    readable.map(([ref, then]) =>
      limit(async () => {
        const colon = ref.lastIndexOf(':');
        const path = ref.slice(prefix.length, colon);
        const tag = ref.slice(colon + 1);
        const head = await client.headManifest(path, tag);
        const now = head?.digest ?? null;
        if (now !== then)
          moved.push(
            `${ref}: moved since the plan (${then ? shortDigest(then) : 'absent'} → ${now ? shortDigest(now) : 'absent'})`,
          );
      }),
    ),
  );
  for (const message of moved.sort()) stale(message);

  // The registry as the plan saw it: every HEAD the planner makes is answered from `observed`;
  // manifests and image configs (for the reasons of builds) are read by digest, immutable.
  const unrecorded = new Set<string>();
  const recorded: Pick<RegistryClient, 'headManifest' | 'getManifest' | 'getImageConfig'> = {
    headManifest: async (repositoryPath, tag) => {
      const ref = `${desired.config.registry.url}/${repositoryPath}:${tag}`;
      if (!Object.hasOwn(saved.observed, ref)) {
        unrecorded.add(ref);
        return null;
      }
      const digest = saved.observed[ref];
      return digest ? { digest, mediaType: '', size: 0 } : null;
    },
    getManifest: (repositoryPath, digest) => client.getManifest(repositoryPath, digest),
    getImageConfig: (repositoryPath, manifest) => client.getImageConfig(repositoryPath, manifest),
  };
  let observation: Awaited<ReturnType<typeof observe>>;
  try {
    observation = await observe(desired, recorded);
  } catch (e) {
    // An image read by digest may be gone with its moved tag: that is the story to tell.
    if (moved.length > 0) return { plan: saved, problems };
    throw e;
  }

  let deletions: PlannedDeletion[] = [];
  if (saved.deletions.length > 0) {
    if (!options.retention) throw new Error('internal: a plan with deletions needs the retention planner');
    const now = new Date(Math.min(createdAt.getTime(), Date.now()));
    deletions = await options.retention(now);
  }
  const plan = computePlan(desired, observation, { configFile: saved.configFile, now: createdAt, deletions });

  const differences = planDifferences(saved, plan).map((d) =>
    describeDifference(d, planName, d.where.startsWith('deletion') ? 'retention' : configName),
  );
  for (const message of differences.slice(0, DIFFERENCES_SHOWN)) problems.push({ kind: 'differs', message });
  if (differences.length > DIFFERENCES_SHOWN)
    problems.push({
      kind: 'differs',
      message: `… and ${differences.length - DIFFERENCES_SHOWN} more differences`,
    });
  for (const ref of unrecorded)
    if (!problems.some((p) => p.message.includes(ref)))
      problems.push({ kind: 'differs', message: `${ref}: the plan records no registry state for it` });

  return { plan, problems };
}
