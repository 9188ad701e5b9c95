// What an export needs to know about each image of the plan: enough to build it elsewhere
// (a CI job, a BuildKit bake target) exactly as `arbor apply` would.
import type { Action, PlannedBuild } from '../plan/model.js';

export type ExportFormat = 'github-actions' | 'gitlab-ci' | 'bake';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['github-actions', 'gitlab-ci', 'bake'];

/**
 * An image of the plan with its build details (PlannedBuild, one field list for both): without
 * details in the plan, they are empty (`dockerfile` is '', `context` and `parentRef` null).
 */
export interface ExportImage extends PlannedBuild {
  name: string;
  parent: string | null;
  action: Action;
  /** `host/namespace/name` without tag. */
  repository: string;
  /** Full references the image carries after apply, the fingerprint tag included (builds). */
  tags: string[];
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
