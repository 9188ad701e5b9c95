import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArborError } from '../../../src/errors.js';
import { planMarker } from '../../../src/plan/views/markdown.js';
import { type GithubContext, githubContextFromEnv, publishGithub } from '../../../src/publish/github.js';
import { redact } from '../../../src/secrets.js';
import { deletion, makePlan, SMALL_DELETIONS, SMALL_TREE, wideTree } from '../../fixtures/plans/plans.js';
import { type FakeGithub, startFakeGithub } from '../../support/fake-github.js';

const TOKEN = 'ghs_testtoken_abcdef123456';
const REPO = 'acme/images';
const PR = 7;
const plan = makePlan(SMALL_TREE, SMALL_DELETIONS);
const fast = { retryBaseMs: 1 };

let github: FakeGithub;
let ctx: GithubContext;

beforeEach(async () => {
  github = await startFakeGithub({ token: TOKEN });
  ctx = { apiUrl: github.apiUrl, token: TOKEN, repository: REPO, pr: PR };
});
afterEach(() => github.close());

const calls = () =>
  github.requests.map((r) => `${r.method} ${r.path}${r.query.page ? `?page=${r.query.page}` : ''}`);

describe('publishGithub', () => {
  it('creates the comment on the first run and updates the same one on the next', async () => {
    const first = await publishGithub(plan, ctx, fast);
    expect(first.action).toBe('created');
    expect(calls()).toEqual([
      `GET /repos/${REPO}/issues/7/comments`,
      `POST /repos/${REPO}/issues/7/comments`,
    ]);
    const [list, create] = github.requests;
    expect(list!.query).toEqual({ per_page: '100' });
    for (const r of github.requests) {
      expect(r.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(r.headers.accept).toBe('application/vnd.github+json');
      expect(r.headers['x-github-api-version']).toBe('2022-11-28');
      expect(r.headers['user-agent']).toMatch(/^arbor/);
    }
    expect((create!.body as { body: string }).body).toContain(planMarker('default'));
    expect((create!.body as { body: string }).body).toContain(
      '🔨 3 build · 🏷 1 tag · 🗑 2 delete · 3 unchanged',
    );

    github.requests.length = 0;
    const changed = makePlan(SMALL_TREE.map((s) => ({ ...s, action: 'none' as const })));
    const second = await publishGithub(changed, ctx, fast);
    expect(second.action).toBe('updated');
    expect(second.comment.id).toBe(first.comment.id);
    expect(calls()).toEqual([
      `GET /repos/${REPO}/issues/7/comments`,
      `PATCH /repos/${REPO}/issues/comments/${first.comment.id}`,
    ]);
    const comments = github.comments(REPO, PR);
    expect(comments).toHaveLength(1);
    expect(comments[0]!.body).toContain('🔨 0 build');
  });

  it('gives each target its own comment', async () => {
    await publishGithub(plan, ctx, { ...fast, target: 'openstack' });
    await publishGithub(plan, ctx, { ...fast, target: 'tools' });
    await publishGithub(plan, ctx, { ...fast, target: 'openstack' });
    expect(calls().filter((c) => !c.startsWith('GET'))).toEqual([
      `POST /repos/${REPO}/issues/7/comments`,
      `POST /repos/${REPO}/issues/7/comments`,
      `PATCH /repos/${REPO}/issues/comments/${github.comments(REPO, PR)[0]!.id}`,
    ]);
    const bodies = github.comments(REPO, PR).map((c) => c.body.split('\n')[0]);
    expect(bodies).toEqual([planMarker('openstack'), planMarker('tools')]);
  });

  it('pages through every comment (Link rel="next") to find its own on page 3', async () => {
    github.seed(
      REPO,
      PR,
      Array.from({ length: 229 }, (_, i) => `review comment ${i}`),
    );
    github.seed(REPO, PR, [`${planMarker('default')}\nold plan`]);
    github.seed(
      REPO,
      PR,
      Array.from({ length: 20 }, (_, i) => `later comment ${i}`),
    );
    const target = github.comments(REPO, PR)[229]!;
    const result = await publishGithub(plan, ctx, fast);
    expect(result).toMatchObject({ action: 'updated', comment: { id: target.id } });
    expect(calls()).toEqual([
      `GET /repos/${REPO}/issues/7/comments`,
      `GET /repos/${REPO}/issues/7/comments?page=2`,
      `GET /repos/${REPO}/issues/7/comments?page=3`,
      `PATCH /repos/${REPO}/issues/comments/${target.id}`,
    ]);
    expect(github.comments(REPO, PR)).toHaveLength(250);
  });

  it('stops paging once it found its comment', async () => {
    github.seed(REPO, PR, [`${planMarker('default')}\nold plan`]);
    github.seed(
      REPO,
      PR,
      Array.from({ length: 250 }, (_, i) => `later comment ${i}`),
    );
    await publishGithub(plan, ctx, fast);
    expect(calls()).toEqual([
      `GET /repos/${REPO}/issues/7/comments`,
      `PATCH /repos/${REPO}/issues/comments/${github.comments(REPO, PR)[0]!.id}`,
    ]);
  });

  it('retries server errors with back-off, then succeeds', async () => {
    github.failNext(2, 502);
    const result = await publishGithub(plan, ctx, fast);
    expect(result.action).toBe('created');
    expect(calls()).toEqual([
      `GET /repos/${REPO}/issues/7/comments`,
      `GET /repos/${REPO}/issues/7/comments`,
      `GET /repos/${REPO}/issues/7/comments`,
      `POST /repos/${REPO}/issues/7/comments`,
    ]);
  });

  it('gives up after a bounded number of attempts', async () => {
    github.failNext(100, 503);
    await expect(publishGithub(plan, ctx, fast)).rejects.toThrow(
      `GitHub API: GET /repos/${REPO}/issues/7/comments → 503 Server Error (after 4 attempts)`,
    );
    expect(github.requests).toHaveLength(4);
  });

  it("reports 401 in one line with GitHub's message, and never the token", async () => {
    const error = await publishGithub(plan, { ...ctx, token: 'ghs_wrong_token_987654' }, fast).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(ArborError);
    expect(error.message).toBe(
      `error: GitHub API: GET /repos/${REPO}/issues/7/comments → 401 Bad credentials`,
    );
    expect(error.message).not.toContain('ghs_');
    expect(github.requests).toHaveLength(1);
  });

  it("reports 403 with GitHub's message and posts nothing", async () => {
    github.deny(403);
    await expect(publishGithub(plan, ctx, fast)).rejects.toThrow(
      '→ 403 Resource not accessible by integration',
    );
    expect(github.requests.map((r) => r.method)).toEqual(['GET']);
  });

  it('on 422 (body too long) renders a shorter comment once', async () => {
    await github.close();
    github = await startFakeGithub({ token: TOKEN, maxBodyChars: 40_000 });
    ctx = { ...ctx, apiUrl: github.apiUrl };
    const huge = makePlan(
      wideTree(40, 49, (n) => (n.endsWith('-1') ? 'build' : 'none')),
      Array.from({ length: 300 }, (_, i) => deletion(`svc-${i}`, `2024.${i}`, i * 1000)),
    );
    const result = await publishGithub(huge, ctx, fast);
    expect(result.action).toBe('created');
    const posts = github.requests
      .filter((r) => r.method === 'POST')
      .map((r) => (r.body as { body: string }).body);
    expect(posts).toHaveLength(2);
    expect(posts[0]!.length).toBeGreaterThan(40_000);
    expect(posts[1]!.length).toBeLessThanOrEqual(32_768);
    expect(posts[1]).toContain('Truncated to stay under 32768 characters');
    expect(github.comments(REPO, PR)[0]!.body).toBe(posts[1]);
  });

  it('fails clearly when even the shorter comment is refused', async () => {
    await github.close();
    github = await startFakeGithub({ token: TOKEN, maxBodyChars: 1000 });
    ctx = { ...ctx, apiUrl: github.apiUrl };
    const huge = makePlan(wideTree(10, 20, () => 'build'));
    await expect(publishGithub(huge, ctx, fast)).rejects.toThrow(
      /GitHub refused the plan comment as invalid twice, the second time at \d+ characters \(422 Validation Failed: body is too long \(maximum is 1000 characters\)\)/,
    );
    expect(github.comments(REPO, PR)).toHaveLength(0);
  });

  it('appends the plan to $GITHUB_STEP_SUMMARY', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arbor-summary-'));
    const summary = join(dir, 'summary.md');
    await writeFile(summary, '# earlier step\n');
    await publishGithub(plan, { ...ctx, stepSummary: summary }, fast);
    const text = await readFile(summary, 'utf8');
    expect(text.startsWith('# earlier step\n<!-- arbor:plan target=default -->')).toBe(true);
    expect(text).toContain('🔨 3 build');
  });

  it('labels the pull request arbor:build and removes arbor:no-changes', async () => {
    const quiet = makePlan([{ name: 'base' }]);
    await publishGithub(quiet, ctx, { ...fast, labels: true });
    expect(github.labels(REPO, PR)).toEqual(['arbor:no-changes']);
    github.requests.length = 0;
    const result = await publishGithub(plan, ctx, { ...fast, labels: true });
    expect(result.label).toBe('arbor:build');
    expect(github.labels(REPO, PR)).toEqual(['arbor:build']);
    expect(calls().slice(2)).toEqual([
      `POST /repos/${REPO}/issues/7/labels`,
      `DELETE /repos/${REPO}/issues/7/labels/arbor%3Ano-changes`,
    ]);
    expect(github.requests[2]!.body).toEqual({ labels: ['arbor:build'] });
  });

  it('works against GitHub Enterprise (an API URL with a path)', async () => {
    await github.close();
    github = await startFakeGithub({ token: TOKEN, prefix: '/api/v3' });
    await publishGithub(plan, { ...ctx, apiUrl: github.apiUrl }, fast);
    expect(github.requests.map((r) => r.path)).toEqual([
      `/api/v3/repos/${REPO}/issues/7/comments`,
      `/api/v3/repos/${REPO}/issues/7/comments`,
    ]);
  });
});

describe('githubContextFromEnv', () => {
  it('names every missing variable in one line', async () => {
    const error = await githubContextFromEnv({}).catch((e) => e);
    expect(error).toBeInstanceOf(ArborError);
    expect(error.message).toBe(
      'error: arbor comment --github: missing environment variable GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_EVENT_PATH (or pass --pr N)',
    );
    await expect(githubContextFromEnv({ GITHUB_REPOSITORY: REPO }, 3)).rejects.toThrow(
      'missing environment variable GITHUB_TOKEN',
    );
  });

  it('reads the pull request number from the event payload and registers the token as a secret', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arbor-event-'));
    const pr = join(dir, 'pr.json');
    await writeFile(pr, JSON.stringify({ action: 'synchronize', pull_request: { number: 42 } }));
    const issue = join(dir, 'issue.json');
    await writeFile(issue, JSON.stringify({ action: 'created', issue: { number: 9, pull_request: {} } }));
    const env = { GITHUB_TOKEN: 'ghs_secret_value_42', GITHUB_REPOSITORY: REPO };
    const c = await githubContextFromEnv({
      ...env,
      GITHUB_EVENT_PATH: pr,
      GITHUB_API_URL: 'https://ghe.example/api/v3',
    });
    expect(c).toEqual({
      apiUrl: 'https://ghe.example/api/v3',
      token: env.GITHUB_TOKEN,
      repository: REPO,
      pr: 42,
    });
    expect((await githubContextFromEnv({ ...env, GITHUB_EVENT_PATH: issue })).pr).toBe(9);
    expect((await githubContextFromEnv({ ...env, GITHUB_EVENT_PATH: issue }, 5)).pr).toBe(5);
    expect((await githubContextFromEnv({ ...env, GITHUB_EVENT_PATH: pr })).apiUrl).toBe(
      'https://api.github.com',
    );
    expect(redact('token ghs_secret_value_42')).toBe('token ***');
  });

  it('rejects an event without a pull request', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arbor-event-'));
    const push = join(dir, 'push.json');
    await writeFile(push, JSON.stringify({ ref: 'refs/heads/main' }));
    await expect(
      githubContextFromEnv({ GITHUB_TOKEN: 'x-token', GITHUB_REPOSITORY: REPO, GITHUB_EVENT_PATH: push }),
    ).rejects.toThrow(`GITHUB_EVENT_PATH ${push}: no pull_request.number or issue.number`);
  });
});
