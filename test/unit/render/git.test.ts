// Runs the real git against throwaway repositories.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readGitInfo } from '../../../src/render/git.js';

function git(dir: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd: dir,
    encoding: 'utf8',
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@t',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@t',
    },
  }).trim();
}

function repository(): { dir: string; commit: string } {
  const dir = realpathSync(mkdtempSync(path.join(tmpdir(), 'arbor-git-')));
  git(dir, 'init', '-q', '-b', 'release/2025.1');
  git(dir, 'commit', '-q', '--allow-empty', '-m', 'first');
  return { dir, commit: git(dir, 'rev-parse', 'HEAD') };
}

describe('readGitInfo', () => {
  it('reads commit, 12-digit short commit and branch', async () => {
    const { dir, commit } = repository();
    expect(await readGitInfo(dir, {})).toEqual({
      commit,
      shortCommit: commit.slice(0, 12),
      branch: 'release/2025.1',
    });
  });

  it('takes the branch from CI variables when HEAD is detached', async () => {
    const { dir, commit } = repository();
    git(dir, 'checkout', '-q', '--detach');
    expect(await readGitInfo(dir, {})).toEqual({ commit, shortCommit: commit.slice(0, 12) });
    expect((await readGitInfo(dir, { GITHUB_HEAD_REF: '', GITHUB_REF_NAME: 'feature-x' })).branch).toBe(
      'feature-x',
    );
    expect((await readGitInfo(dir, { CI_COMMIT_REF_NAME: 'mr-7' })).branch).toBe('mr-7');
  });

  it('leaves every field undefined outside a repository', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'arbor-nogit-'));
    expect(await readGitInfo(dir, { GITHUB_REF_NAME: 'main' })).toEqual({});
  });
});
