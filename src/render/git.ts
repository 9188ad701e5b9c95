// What tag templates know about the repository holding images.yaml (`git.commit`,
// `git.short_commit`, `git.branch`). Outside a repository, or without git, every field is
// undefined: a tag template that uses one then fails with a message saying why (see tags.ts),
// and one that does not is unaffected.

import { execFile } from 'node:child_process';

export interface GitInfo {
  /** Full commit id of HEAD. */
  commit?: string;
  /** First 12 hex digits of the commit: a fixed length, so tags do not change shape as the repository grows. */
  shortCommit?: string;
  /** Branch name; from the CI's variables when HEAD is detached (as CI checkouts are). */
  branch?: string;
}

/** Branch variables of CI systems that check out a detached HEAD, most specific first. */
export const CI_BRANCH_VARIABLES = ['GITHUB_HEAD_REF', 'GITHUB_REF_NAME', 'CI_COMMIT_REF_NAME'] as const;

export async function readGitInfo(dir: string, env: NodeJS.ProcessEnv = process.env): Promise<GitInfo> {
  // One process for both: the commit, then the branch (every plan waits for this).
  const [commit, ref] = (await git(dir, ['rev-parse', 'HEAD', '--abbrev-ref', 'HEAD']))?.split('\n') ?? [];
  const info: GitInfo = {};
  if (commit !== undefined && /^[0-9a-f]{40,64}$/.test(commit)) {
    info.commit = commit;
    info.shortCommit = commit.slice(0, 12);
  }
  // `--abbrev-ref HEAD` prints "HEAD" when detached; it fails outside a repository.
  const branch = ref === 'HEAD' ? ciBranch(env) : ref;
  if (branch) info.branch = branch;
  return info;
}

function ciBranch(env: NodeJS.ProcessEnv): string | undefined {
  for (const name of CI_BRANCH_VARIABLES) {
    const value = env[name];
    if (value) return value;
  }
  return undefined;
}

/**
 * stdout of a git command, or undefined when git is missing or the command fails. Node's own
 * execFile rather than execa: two lines of output need none of execa's features, and loading
 * it costs every plan ≈ 30 ms of start-up on Node 20 (builders still run through execa).
 */
function git(dir: string, args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('git', args, { cwd: dir, encoding: 'utf8' }, (error, stdout) => {
      resolve(error ? undefined : stdout.trim());
    });
  });
}
