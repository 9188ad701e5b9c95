// `arbor export --format …`: one entry point over the emitters.
import type { Plan } from '../plan/model.js';
import { toBakeJson } from './bake.js';
import { exportImagesFromPlan } from './from-plan.js';
import { toGithubActions } from './github-actions.js';
import { toGitlabCi } from './gitlab-ci.js';
import type { ExportFormat, ExportOptions } from './model.js';

export function exportPlan(plan: Plan, format: ExportFormat, options: ExportOptions): string {
  const images = exportImagesFromPlan(plan, { requireBuildDetails: format === 'bake' });
  switch (format) {
    case 'github-actions':
      return toGithubActions(images, options);
    case 'gitlab-ci':
      return toGitlabCi(images, options);
    case 'bake':
      return toBakeJson(images);
  }
}
