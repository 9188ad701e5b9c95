// The pull-request label that says at a glance whether the plan does anything.
import type { Plan } from '../plan/model.js';

export type PlanLabel = 'arbor:build' | 'arbor:no-changes';

/** `arbor:build` when apply would build, tag or delete anything; else `arbor:no-changes`. */
export function planLabel(plan: Plan): PlanLabel {
  const s = plan.summary;
  return s.build + s.tag + s.delete > 0 ? 'arbor:build' : 'arbor:no-changes';
}

export function otherLabel(label: PlanLabel): PlanLabel {
  return label === 'arbor:build' ? 'arbor:no-changes' : 'arbor:build';
}
