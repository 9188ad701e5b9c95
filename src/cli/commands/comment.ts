// arbor comment --github|--gitlab: the plan as one pull/merge-request comment per target,
// updated in place on every run.
import type { Command } from 'commander';
import { ArborError } from '../../errors.js';
import { DEFAULT_TARGET, renderMarkdown, targetProblem } from '../../plan/views/markdown.js';
import { githubContextFromEnv, type PublishResult, publishGithub } from '../../publish/github.js';
import { gitlabContextFromEnv, publishGitlab } from '../../publish/gitlab.js';
import { action } from '../action.js';
import { out } from '../io.js';
import { planFor } from '../plan-source.js';

interface CommentFlags {
  github?: boolean;
  gitlab?: boolean;
  plan?: string;
  file: string;
  target: string;
  pr?: string;
  labels?: boolean;
  dryRun?: boolean;
}

export function register(program: Command): void {
  program
    .command('comment')
    .description(
      'post the plan as a pull request (GitHub) or merge request (GitLab) comment, updated in place',
    )
    .option('--github', 'GitHub: GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_EVENT_PATH, GITHUB_API_URL')
    .option('--gitlab', 'GitLab: CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID, GITLAB_TOKEN')
    .option('--plan <plan.json>', 'a plan saved by `arbor plan --out` (default: plan now)')
    .option('-f, --file <path>', 'the image tree to plan when --plan is not given', 'images.yaml')
    .option('--target <name>', 'name of this tree; each target keeps its own comment', DEFAULT_TARGET)
    .option('--pr <number>', 'pull/merge request number (default: from the CI environment)')
    .option('--labels', 'label the request arbor:build or arbor:no-changes')
    .option('--dry-run', 'print the comment instead of posting it')
    .action(
      action<CommentFlags>(async (_args, flags) => {
        if (Boolean(flags.github) === Boolean(flags.gitlab)) {
          throw new ArborError('arbor comment: choose exactly one of --github or --gitlab');
        }
        const problem = targetProblem(flags.target);
        if (problem) throw new ArborError(`--target: ${problem}`);
        const pr = parsePr(flags.pr);
        const plan = await planFor(flags);
        if (flags.dryRun) {
          out(renderMarkdown(plan, { target: flags.target }));
          return 0;
        }
        const options = { target: flags.target, labels: flags.labels ?? false };
        const result = flags.github
          ? await publishGithub(plan, await githubContextFromEnv(process.env, pr), options)
          : await publishGitlab(plan, gitlabContextFromEnv(process.env, pr), options);
        out(describe(result));
        return 0;
      }),
    );
}

function parsePr(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new ArborError(`--pr: expected a pull request number, got "${value}"`);
  }
  return n;
}

function describe(result: PublishResult): string {
  const verb = result.action === 'created' ? 'Created' : 'Updated';
  const link = result.comment.url ? ` (${result.comment.url})` : '';
  const label = result.label ? `; labelled ${result.label}` : '';
  return `${verb} plan comment ${result.comment.id} on ${result.where}${link}${label}`;
}
