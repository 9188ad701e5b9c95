// A child pipeline for GitLab's dynamic child pipelines (`trigger: include: artifact:`): one job
// per changed image with `needs:` its nearest changed ancestor's job, so GitLab runs the tree as
// a DAG. Each job needs at most one other, far below GitLab's per-job `needs` limit (50).
// https://docs.gitlab.com/ci/pipelines/downstream_pipelines/#dynamic-child-pipelines
import { Document } from 'yaml';
import { applyCommand, generatedHeader } from './command.js';
import { planJobs } from './jobs.js';
import { DEFAULT_MAX_JOBS, type ExportImage, type ExportOptions } from './model.js';

export function toGitlabCi(images: ExportImage[], options: ExportOptions): string {
  const jobs = planJobs(images, options.maxJobs ?? DEFAULT_MAX_JOBS);
  const pipeline: Record<string, unknown> = {
    stages: ['arbor'],
    default: { image: `node:${options.nodeVersion ?? '20'}` },
  };
  for (const job of jobs) {
    pipeline[job.id] = {
      stage: 'arbor',
      // `needs: []` starts a root job at once instead of waiting for the stage.
      needs: job.needs ? [job.needs] : [],
      script: [applyCommand(job.images, options)],
    };
  }
  // A pipeline without jobs is rejected; an empty plan still yields a valid one.
  if (jobs.length === 0) {
    pipeline['nothing-to-do'] = { stage: 'arbor', script: ['echo "arbor: nothing to build or tag"'] };
  }
  const doc = new Document(pipeline);
  doc.commentBefore = ` ${generatedHeader(options, 'GitLab CI child pipeline').replace(/\n/g, '\n ')}`;
  return doc.toString({ lineWidth: 0 });
}
