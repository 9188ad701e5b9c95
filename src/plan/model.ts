// The plan is a value (Terraform's habit): computed by plan/, saved as JSON, shown by views,
// carried out by execute/. Field names of the JSON are a contract (product.md): add, never rename.

export const PLAN_FORMAT_VERSION = 1;

export type Action = 'build' | 'tag' | 'none';

export interface PlannedImage {
  name: string;
  /** `host/namespace/name` without tag. */
  repository: string;
  fingerprint: string;
  fingerprintTag: string;
  action: Action;
  /** Human reasons, e.g. `input lists/keystone.pip.txt changed`, `parent keystone-base is rebuilt`. */
  reasons: string[];
  parent: string | null;
  /** Every tag the image should carry (tag templates rendered), without the fingerprint tag. */
  tags: string[];
  /** The subset of `tags` (plus the fingerprint tag for builds) this plan will write. */
  tagsToAdd: string[];
  /** Digest of the existing image for `tag`/`none`; null for `build`. */
  digest: string | null;
  /**
   * How the image is built, so a saved plan can be exported to other build systems
   * (`arbor export`: buildx bake, CI pipelines) without re-reading the config. Optional: plans
   * saved before it existed lack it.
   */
  build?: PlannedBuild;
}

export interface PlannedBuild {
  /** Build context directory relative to the repository root; null for an empty context. */
  context: string | null;
  /** Path of the rendered Dockerfile, relative to the repository root. */
  dockerfile: string;
  args: Record<string, string>;
  labels: Record<string, string>;
  platforms: string[];
  /** The exact reference the Dockerfile builds FROM (the parent's fingerprint tag or a pinned base); null for scratch. */
  parentRef: string | null;
}

export interface PlannedDeletion {
  repository: string;
  /** The tag to delete alone (tag-only deletion), or null when the whole digest goes. */
  tag: string | null;
  /** Every tag that currently points at the digest. */
  tags: string[];
  digest: string;
  /** Index of the retention rule in images.yaml. */
  rule: number;
  /** Compressed bytes no remaining manifest of the repository references. */
  bytesFreed: number;
  reason: string;
}

export interface PlanSummary {
  build: number;
  tag: number;
  none: number;
  delete: number;
}

export interface Plan {
  formatVersion: typeof PLAN_FORMAT_VERSION;
  /** Digest of the config (images.yaml, templates and inputs reach it through fingerprints). */
  configDigest: string;
  createdAt: string;
  /** images.yaml path relative to the working directory at plan time. */
  configFile: string;
  images: PlannedImage[];
  deletions: PlannedDeletion[];
  summary: PlanSummary;
  /**
   * What the registry said at plan time for every `repository:tag` the plan reads or writes
   * (digest, or null when absent). `apply plan.json` re-reads them and refuses a stale plan.
   */
  observed: Record<string, string | null>;
  /**
   * Present when every image is already published but the release's record is not in the registry
   * (an apply stopped between its tag burst and the record): apply writes it.
   */
  release?: { name: string; record: 'missing' };
}
