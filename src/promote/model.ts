// A promotion plan is a value like apply's plan: computed from the release record, the target's
// settings and what the target holds (plan.ts, pure), saved, shown, and carried out (apply.ts).
// Per image one action: `copy` (the manifest is not at the target: blobs and manifest go over),
// `tag` (the manifest is there, some tags are missing or elsewhere), `none`.

import type { PlannedDeletion } from '../plan/model.js';

export const PROMOTE_PLAN_FORMAT_VERSION = 1;

export type PromoteAction = 'copy' | 'tag' | 'none';

export interface PromoteImage {
  name: string;
  /** Repository path at the source (`ns/name`). */
  sourceRepository: string;
  /** Repository path at the target (`target-namespace/name`). */
  targetRepository: string;
  digest: string;
  mediaType: string;
  size: number;
  action: PromoteAction;
  reasons: string[];
  /** The release's tags this target publishes for the image. */
  tags: string[];
  /** The subset of `tags` this promotion writes (missing, or at another digest). */
  tagsToWrite: string[];
  /** For `copy`: blobs the target repository lacks, and their bytes (an index counts its children's). */
  blobsMissing: number;
  bytesMissing: number;
  /**
   * For an image the target holds already: artifacts referring to it at the source (a signature,
   * SBOM or provenance added since it was promoted) that the target lacks; copied by the apply.
   */
  referrersMissing?: number;
}

export interface PullBudget {
  remaining: number;
  limit?: number;
  windowSeconds?: number;
  /** Manifest GETs this promotion still sends to that registry (a HEAD does not count against the budget). */
  needed: number;
}

/**
 * The source registry's pull budget, when it announces one (a CI registry on Docker Hub, say):
 * reads already made by planning are spent; `needed` counts those the apply still makes there.
 */
export interface SourceBudget {
  registry: string;
  budget: PullBudget;
  /** Why the promotion cannot go ahead at the source; none: it can. */
  problems: string[];
}

export interface TargetPlan {
  target: string;
  registry: string;
  namespace: string;
  images: PromoteImage[];
  /** Why this target cannot be promoted to (gate failed, immutable tag would move…); none: it can. */
  problems: string[];
  /** What the gate said, when there is one. */
  gate?: { passed: boolean; detail: string };
  budget?: PullBudget;
  /** Every `repository:tag` the plan read at the target, with its digest then (null: absent). */
  observed: Record<string, string | null>;
  /**
   * The `repository:tag`s of `observed` the target could not read (it answered 500: a link a crash
   * left empty). Written again; their digest before is unknown (null in `observed`), so a
   * rollback leaves them.
   */
  unreadable?: string[];
  /**
   * The target lacks the release's record although it may have every tag: an earlier promotion
   * was cut short between its flip and the record. Apply writes it (and closes that journal entry).
   */
  recordMissing?: boolean;
  /** With recordMissing: the target holds another record under the release's name, written over. */
  recordOther?: boolean;
  /**
   * The target's `tags:` select none of the release's tags: nothing of it is published there, and
   * no record says it was.
   */
  publishesNothing?: boolean;
  /**
   * What the target's `retention:` deletes after the flip (evaluated on the target as the flip
   * leaves it); absent: nothing. The apply deletes no more than this.
   */
  retention?: PlannedDeletion[];
  /** `blobs`/`bytes`: distinct blobs missing at the target (the engine sends each once). */
  summary: { copy: number; tag: number; none: number; blobs: number; bytes: number; delete?: number };
}

export interface PromotePlan {
  formatVersion: typeof PROMOTE_PLAN_FORMAT_VERSION;
  kind: 'promote';
  createdAt: string;
  configFile: string;
  configDigest: string;
  release: { name: string; registry: string; repository: string; digest: string };
  /** Present when the source announces a pull budget. */
  source?: SourceBudget;
  targets: TargetPlan[];
}

export function promoteHasChanges(plan: PromotePlan): boolean {
  return plan.targets.some(
    (t) =>
      t.recordMissing ||
      (t.retention?.length ?? 0) > 0 ||
      t.images.some((i) => i.action !== 'none' || (i.referrersMissing ?? 0) > 0),
  );
}

export function promoteHasProblems(plan: PromotePlan): boolean {
  return (plan.source?.problems.length ?? 0) > 0 || plan.targets.some((t) => t.problems.length > 0);
}
