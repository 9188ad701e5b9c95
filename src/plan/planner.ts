// The whole of `arbor plan`: desired state, observed state, their difference. Shared by
// plan, apply (without a saved plan), comment and export, so they all plan the same way.
import { relative } from 'node:path';
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
    const observation = await observe(desired, clients.home);
    const plan = computePlan(desired, observation, {
      configFile: relative(process.cwd(), desired.config.file) || desired.config.file,
      now: new Date(),
    });
    return { plan, desired, clients };
  } catch (e) {
    await clients.close();
    throw e;
  }
}
