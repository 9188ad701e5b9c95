// `arbor comment` end to end: the built CLI (run `npx tsc -p tsconfig.build.json` first) as a
// child process against the loopback fakes, with a saved plan fixture.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN } from '../../support/cli.js';
import { type FakeGithub, startFakeGithub } from '../../support/fake-github.js';
import { type FakeGitlab, startFakeGitlab } from '../../support/fake-gitlab.js';

const PLAN = fileURLToPath(new URL('../../fixtures/plans/small.json', import.meta.url));
const TOKEN = 'ghs_cli_token_0123456789';
const REPO = 'acme/images';

/** Async, unlike test/support/cli.ts: the fake server lives in this process and must keep answering. */
async function arbor(args: string[], env: Record<string, string>) {
  const result = await execa(process.execPath, [BIN, ...args], {
    // Only what the test gives: CI variables of the machine running the tests must not leak in.
    env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...env },
    extendEnv: false,
    reject: false,
  });
  return { code: result.exitCode, stdout: result.stdout, stderr: result.stderr };
}

describe('arbor comment --github', () => {
  let github: FakeGithub;
  let env: Record<string, string>;

  beforeEach(async () => {
    github = await startFakeGithub({ token: TOKEN });
    const dir = await mkdtemp(join(tmpdir(), 'arbor-comment-'));
    const event = join(dir, 'event.json');
    await writeFile(event, JSON.stringify({ action: 'opened', pull_request: { number: 7 } }));
    env = {
      GITHUB_API_URL: github.apiUrl,
      GITHUB_TOKEN: TOKEN,
      GITHUB_REPOSITORY: REPO,
      GITHUB_EVENT_PATH: event,
    };
  });
  afterEach(() => github.close());

  it('creates the comment, then updates it in place', async () => {
    const first = await arbor(['comment', '--github', '--plan', PLAN], env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const id = github.comments(REPO, 7)[0]!.id;
    expect(first.stdout).toBe(
      `Created plan comment ${id} on ${REPO}#7 (https://github.example/${REPO}/pull/7#issuecomment-${id})`,
    );
    const second = await arbor(['comment', '--github', '--plan', PLAN, '--labels'], env);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(
      new RegExp(`^Updated plan comment ${id} on ${REPO}#7 .*; labelled arbor:build$`),
    );
    expect(github.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      `GET /repos/${REPO}/issues/7/comments`,
      `POST /repos/${REPO}/issues/7/comments`,
      `GET /repos/${REPO}/issues/7/comments`,
      `PATCH /repos/${REPO}/issues/comments/${id}`,
      `POST /repos/${REPO}/issues/7/labels`,
    ]);
    expect(github.comments(REPO, 7)[0]!.body).toContain('🔨 3 build · 🏷 1 tag · 🗑 2 delete · 3 unchanged');
  });

  it('--pr and --target choose where the comment goes and which one it is', async () => {
    const { GITHUB_EVENT_PATH: _, ...noEvent } = env;
    const result = await arbor(
      ['comment', '--github', '--plan', PLAN, '--pr', '12', '--target', 'tools'],
      noEvent,
    );
    expect(result.code).toBe(0);
    expect(github.comments(REPO, 12)[0]!.body.startsWith('<!-- arbor:plan target=tools -->')).toBe(true);
  });

  it('names the missing variable in one line, exits 1 and sends nothing', async () => {
    const { GITHUB_TOKEN: _, ...noToken } = env;
    const result = await arbor(['comment', '--github', '--plan', PLAN], noToken);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('error: arbor comment --github: missing environment variable GITHUB_TOKEN');
    expect(result.stdout).toBe('');
    expect(github.requests).toHaveLength(0);
  });

  it("shows 401 with GitHub's message and never the token", async () => {
    const wrong = 'ghs_wrong_cli_token_55555';
    const result = await arbor(['comment', '--github', '--plan', PLAN, '--debug'], {
      ...env,
      GITHUB_TOKEN: wrong,
    });
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n')[0]).toBe(
      `error: GitHub API: GET /repos/${REPO}/issues/7/comments → 401 Bad credentials`,
    );
    expect(result.stderr + result.stdout).not.toContain(wrong);
    expect(github.requests).toHaveLength(1);
  });

  it('--dry-run prints the comment and sends nothing', async () => {
    const result = await arbor(['comment', '--github', '--plan', PLAN, '--dry-run'], {});
    expect(result.code).toBe(0);
    expect(result.stdout.startsWith('<!-- arbor:plan target=default -->\n### arbor plan')).toBe(true);
    expect(github.requests).toHaveLength(0);
  });

  it('requires exactly one of --github/--gitlab, a readable plan source and a sane --pr', async () => {
    expect((await arbor(['comment', '--plan', PLAN], env)).stderr).toBe(
      'error: arbor comment: choose exactly one of --github or --gitlab',
    );
    // Without --plan it plans the tree now: a missing images.yaml is a clear error.
    expect((await arbor(['comment', '--github', '-f', '/nonexistent/images.yaml'], env)).stderr).toBe(
      'error: cannot read /nonexistent/images.yaml: no such file',
    );
    expect((await arbor(['comment', '--github', '--plan', PLAN, '--pr', 'abc'], env)).stderr).toBe(
      'error: --pr: expected a pull request number, got "abc"',
    );
    expect((await arbor(['comment', '--github', '--plan', PLAN, '--target', 'a -->'], env)).code).toBe(1);
    expect(github.requests).toHaveLength(0);
  });
});

describe('arbor comment --gitlab', () => {
  let gitlab: FakeGitlab;
  beforeEach(async () => {
    gitlab = await startFakeGitlab({ token: 'glpat-cli-token-0000' });
  });
  afterEach(() => gitlab.close());

  it('posts the merge request note with the CI variables', async () => {
    const env = {
      CI_API_V4_URL: gitlab.apiUrl,
      CI_PROJECT_ID: '314',
      CI_MERGE_REQUEST_IID: '3',
      GITLAB_TOKEN: 'glpat-cli-token-0000',
    };
    const result = await arbor(['comment', '--gitlab', '--plan', PLAN], env);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(`Created plan comment ${gitlab.notes('314', 3)[0]!.id} on 314!3`);
    expect(gitlab.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /api/v4/projects/314/merge_requests/3/notes',
      'POST /api/v4/projects/314/merge_requests/3/notes',
    ]);
  });
});
