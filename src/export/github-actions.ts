// A GitHub Actions workflow: one job per changed image, `needs:` the job of its nearest changed
// ancestor, each applying only its images. Callable (`workflow_call`) or run by hand.
// https://docs.github.com/en/actions/writing-workflows/workflow-syntax-for-github-actions
import { Document } from 'yaml';
import { applyCommand, generatedHeader } from './command.js';
import { planJobs } from './jobs.js';
import { DEFAULT_MAX_JOBS, type ExportImage, type ExportOptions } from './model.js';

export function toGithubActions(images: ExportImage[], options: ExportOptions): string {
  const jobs = planJobs(images, options.maxJobs ?? DEFAULT_MAX_JOBS);
  const nodeVersion = options.nodeVersion ?? '20';
  const steps = (run: string) => [
    { uses: 'actions/checkout@v4' },
    { uses: 'actions/setup-node@v4', with: { 'node-version': nodeVersion } },
    { run },
  ];
  const jobMap: Record<string, unknown> = {};
  for (const job of jobs) {
    jobMap[job.id] = {
      name: job.images.length === 1 ? job.id.replace('-', ' ') : `${job.id} (+${job.images.length - 1} more)`,
      'runs-on': 'ubuntu-latest',
      ...(job.needs ? { needs: job.needs } : {}),
      steps: steps(applyCommand(job.images, options)),
    };
  }
  // A workflow needs at least one job; an empty plan still yields a valid one.
  if (jobs.length === 0) {
    jobMap['nothing-to-do'] = {
      'runs-on': 'ubuntu-latest',
      steps: [{ run: 'echo "arbor: nothing to build or tag"' }],
    };
  }
  const doc = new Document({
    name: 'arbor apply',
    on: { workflow_dispatch: {}, workflow_call: {} },
    permissions: { contents: 'read' },
    jobs: jobMap,
  });
  doc.commentBefore = ` ${generatedHeader(options, 'GitHub Actions workflow').replace(/\n/g, '\n ')}`;
  return doc.toString({ lineWidth: 0 });
}
