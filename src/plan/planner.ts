// The whole of `arbor plan`: desired state, observed state, their difference. Shared by
// plan, apply (without a saved plan), comment and export, so they all plan the same way.
import { relative } from 'node:path';
import type { Diagnostic } from '../errors.js';
import { planRetention, protectedTagsOf } from '../retention/index.js';
import { RegistryClients } from './clients.js';
import { computePlan } from './compute.js';
import { computeDesired, type DesiredState, loadTree } from './desired.js';
import type { Plan } from './model.js';
import { observe } from './observe.js';

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
}

export interface PlanResult {
  plan: Plan;
  desired: DesiredState;
  clients: RegistryClients;
}

export async function planTree(request: PlanRequest): Promise<PlanResult> {
  const tree = await loadTree(request.file);
  const clients = new RegistryClients(tree.config, request.debug ? { debug: request.debug } : {});
  try {
    const desired = await computeDesired({
      tree,
      ...(request.only ? { only: request.only } : {}),
      ...(request.withDescendants ? { withDescendants: true } : {}),
      ...(request.env ? { env: request.env } : {}),
      resolveBase: (ref) => clients.resolveBase(ref),
    });
    const now = new Date();
    const [observation, deletions] = await Promise.all([
      observe(desired, clients.home),
      request.retention === false || (request.only?.length ?? 0) > 0
        ? []
        : planRetention(
            tree.config,
            protectedTagsOf(tree.config, desired.images.values()),
            clients.home,
            now,
            {
              ...(request.onWarning ? { onWarning: request.onWarning } : {}),
            },
          ),
    ]);
    const plan = computePlan(desired, observation, {
      configFile: relative(process.cwd(), desired.config.file) || desired.config.file,
      now,
      deletions,
    });
    return { plan, desired, clients };
  } catch (e) {
    await clients.close();
    throw e;
  }
}
