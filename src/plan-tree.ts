// The whole of `arbor plan`: desired state, observed state, their difference. Shared by
// plan, apply (without a saved plan), comment and export, so they all plan the same way. It sits
// above plan/ and retention/ because it composes both (retention reads plan/model.ts's types).
import { dirname, relative, resolve } from 'node:path';
import type { Config } from './config/model.js';
import type { Diagnostic } from './errors.js';
import { phaseTimer } from './phase-timer.js';
import { RegistryClients } from './plan/clients.js';
import { computePlan } from './plan/compute.js';
import { computeDesired, type DesiredState, loadTree, type Tree } from './plan/desired.js';
import type { Plan } from './plan/model.js';
import { observe } from './plan/observe.js';
import {
  configTextDigest,
  loadPrefetchList,
  PlanHeads,
  prefetchFile,
  sameRegistry,
  savePrefetchList,
} from './plan/prefetch.js';
import type { RegistryClient } from './registry/client.js';
import { releasesRepository } from './release/store.js';
import { planRetention, protectedTagsOf } from './retention/index.js';

export interface PlanRequest {
  file: string;
  only?: string[];
  withDescendants?: boolean;
  env?: NodeJS.ProcessEnv;
  debug?: (line: string) => void;
  /**
   * Plan retention's deletions too (default). Off for `--only` plans: what a selection protects
   * is not the whole tree, and retention decides per repository across the whole tree.
   */
  retention?: boolean;
  /** Retention warnings, e.g. a rule that selects nothing. */
  onWarning?: (warning: Diagnostic) => void;
  /** images.yaml is read: apply starts opening signing keys while the registry is asked. */
  onConfig?: (config: Config) => void;
}

export interface PlanResult {
  plan: Plan;
  desired: DesiredState;
  clients: RegistryClients;
}

export async function planTree(request: PlanRequest): Promise<PlanResult> {
  const phase = phaseTimer(request.debug);
  const clientOptions = request.debug ? { debug: request.debug } : {};
  const whole = (request.only?.length ?? 0) === 0;
  const listFile = prefetchFile(request.file);
  // Before images.yaml is even parsed, the previous plan's HEADs go out: the registry answers
  // while this process computes. Not for a selection, which would use a fraction of them.
  const configText = whole ? await configTextDigest(request.file) : null;
  const list = configText ? await loadPrefetchList(listFile, configText) : null;
  const early = list
    ? new RegistryClients({ registry: list.registry, root: dirname(resolve(request.file)) }, clientOptions)
    : undefined;
  const prefetched = early && list ? new PlanHeads(early.home, list.heads) : undefined;
  const abandon = async () => {
    prefetched?.stop();
    await early?.close({ abort: true });
  };

  let tree: Tree;
  try {
    tree = await loadTree(request.file);
  } catch (e) {
    await abandon();
    throw e;
  }
  // The file's warnings, as validate prints them (retention's own come with its plan).
  for (const w of tree.config.warnings ?? []) request.onWarning?.(w);
  request.onConfig?.(tree.config);
  phase('config and graph');
  // The same text names the same registry, but images.yaml may have been edited between its
  // digest above and loadTree's read: the HEADs go only where the file loaded now points.
  const reuse = list !== null && sameRegistry(list.registry, tree.config.registry);
  if (!reuse) await abandon();
  const clients = reuse && early ? early : new RegistryClients(tree.config, clientOptions);
  const heads = reuse && prefetched ? prefetched : new PlanHeads(clients.home);
  try {
    const desired = await computeDesired({
      tree,
      ...(request.only ? { only: request.only } : {}),
      ...(request.withDescendants ? { withDescendants: true } : {}),
      ...(request.env ? { env: request.env } : {}),
      resolveBase: (ref) => clients.resolveBase(ref),
    });
    phase('desired state (render, fingerprints, tags)');
    const now = new Date();
    const [observation, deletions, releaseRecorded] = await Promise.all([
      observe(desired, heads.client),
      request.retention === false || !whole
        ? []
        : planRetention(
            tree.config,
            protectedTagsOf(tree.config, desired.images.values()),
            heads.client,
            now,
            {
              ...(request.onWarning ? { onWarning: request.onWarning } : {}),
            },
          ),
      whole ? releaseRecordExists(desired, heads.client) : undefined,
    ]);
    phase('observed state (registry)');
    if (heads === prefetched && request.debug) {
      const { used, unused } = heads.usage;
      request.debug(`prefetch: ${used} HEADs answered ahead of need, ${unused} sent for nothing`);
    }
    if (configText)
      await savePrefetchList(listFile, {
        configText,
        registry: tree.config.registry,
        heads: nextHeads(desired),
      });
    const plan = computePlan(desired, observation, {
      configFile: relative(process.cwd(), desired.config.file) || desired.config.file,
      now,
      deletions,
      ...(releaseRecorded !== undefined ? { releaseRecorded } : {}),
    });
    phase('plan');
    return { plan, desired, clients };
  } catch (e) {
    heads.stop();
    await clients.close();
    throw e;
  }
}

/**
 * What the next plan will HEAD, assuming this one gets applied: every image's fingerprint tag and
 * all its tags (a plan HEADs the tags of built images, and after apply every image is built).
 */
function nextHeads(desired: DesiredState): Array<[string, string]> {
  const heads: Array<[string, string]> = [];
  for (const name of desired.order) {
    const image = desired.images.get(name)!;
    heads.push([image.repositoryPath, image.fingerprintTag]);
    for (const tag of image.tags) heads.push([image.repositoryPath, tag]);
  }
  const { releases, registry } = desired.config;
  if (releases.record && desired.releaseName)
    heads.push([releasesRepository(registry.namespace, releases.repository), desired.releaseName]);
  return heads;
}

/**
 * Whether the registry holds the record of the release the tree names: one HEAD, so that a tree
 * whose last apply stopped between its tag burst and its record is not taken for a no-op.
 */
async function releaseRecordExists(
  desired: DesiredState,
  client: Pick<RegistryClient, 'headManifest'>,
): Promise<boolean | undefined> {
  const { releases, registry } = desired.config;
  if (!releases.record || !desired.releaseName) return undefined;
  // A registry that refuses the question (no rights on the records' repository) leaves it
  // unasked: the plan of the images does not depend on it.
  const head = await client
    .headManifest(releasesRepository(registry.namespace, releases.repository), desired.releaseName)
    .catch(() => undefined);
  return head === undefined ? undefined : head !== null;
}
