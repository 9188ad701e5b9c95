// Where `comment` and `export` get their plan: a saved one (`--plan plan.json`), or a fresh one
// planned now from images.yaml.

import type { Plan } from '../plan/model.js';
import { loadPlan, writeRenderedDockerfiles } from '../plan/saved.js';
import { planTree } from '../plan-tree.js';

export interface PlanSourceFlags {
  plan?: string;
  file: string;
}

export async function planFor(flags: PlanSourceFlags): Promise<Plan> {
  if (flags.plan) return loadPlan(flags.plan);
  const { plan, desired, clients } = await planTree({ file: flags.file });
  await clients.close();
  await writeRenderedDockerfiles(plan, desired);
  return plan;
}
