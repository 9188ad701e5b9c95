// What an export needs to know about each image of the plan: enough to build it elsewhere
// (a CI job, a BuildKit bake target) exactly as `arbor apply` would.
import type { Action } from '../plan/model.js';

export type ExportFormat = 'github-actions' | 'gitlab-ci' | 'bake';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['github-actions', 'gitlab-ci', 'bake'];

export interface ExportImage {
  name: string;
  parent: string | null;
  action: Action;
  /** `host/namespace/name` without tag. */
  repository: string;
  /** Full references the image carries after apply, the fingerprint tag included (builds). */
  tags: string[];
  /** Build context relative to the repository root; null for an empty context. */
  context: string | null;
  /** Rendered Dockerfile relative to the repository root; empty when the plan carries no build details. */
  dockerfile: string;
  args: Record<string, string>;
  labels: Record<string, string>;
  platforms: string[];
  /** The exact reference the Dockerfile builds FROM; null for scratch. */
  parentRef: string | null;
}

export interface ExportOptions {
  /** The arbor version CI jobs install, so they run the same planner that made this export. */
  arborVersion: string;
  /** images.yaml path relative to the repository root, passed to `arbor apply -f`. */
  configPath: string;
  /**
   * Upper bound of CI jobs; above it, subtrees are merged into their parent's job (GitHub
   * documents 256 jobs per matrix; very large workflows also hit the 500 KB file limit).
   */
  maxJobs?: number;
  /** Node.js major version for CI jobs (default 20). */
  nodeVersion?: string;
}

export const DEFAULT_MAX_JOBS = 256;
