import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArborError } from '../../../src/errors.js';
import { planMarker } from '../../../src/plan/views/markdown.js';
import { type GitlabContext, gitlabContextFromEnv, publishGitlab } from '../../../src/publish/gitlab.js';
import { makePlan, SMALL_DELETIONS, SMALL_TREE } from '../../fixtures/plans/plans.js';
import { type FakeGitlab, startFakeGitlab } from '../../support/fake-gitlab.js';

const TOKEN = 'glpat-test-token-123456';
const JOB_TOKEN = 'glcbt-job-token-654321';
const PROJECT = 'platform/images';
const ENCODED = 'platform%2Fimages';
const plan = makePlan(SMALL_TREE, SMALL_DELETIONS);
const fast = { retryBaseMs: 1 };

let gitlab: FakeGitlab;
let ctx: GitlabContext;

beforeEach(async () => {
  gitlab = await startFakeGitlab({ token: TOKEN, jobToken: JOB_TOKEN });
  ctx = { apiUrl: gitlab.apiUrl, projectId: PROJECT, mergeRequestIid: 12, token: TOKEN, jobToken: false };
});
afterEach(() => gitlab.close());

const notesPath = `/api/v4/projects/${ENCODED}/merge_requests/12/notes`;
const calls = () =>
  gitlab.requests.map((r) => `${r.method} ${r.path}${r.query.page ? `?page=${r.query.page}` : ''}`);

describe('publishGitlab', () => {
  it('creates the note, then updates the same note in place', async () => {
    const first = await publishGitlab(plan, ctx, fast);
    expect(first.action).toBe('created');
    expect(calls()).toEqual([`GET ${notesPath}`, `POST ${notesPath}`]);
    expect(gitlab.requests[0]!.query).toEqual({ per_page: '100', sort: 'asc', order_by: 'created_at' });
    for (const r of gitlab.requests) expect(r.headers['private-token']).toBe(TOKEN);
    gitlab.requests.length = 0;

    const second = await publishGitlab(plan, ctx, fast);
    expect(second).toMatchObject({ action: 'updated', comment: { id: first.comment.id } });
    expect(calls()).toEqual([`GET ${notesPath}`, `PUT ${notesPath}/${first.comment.id}`]);
    expect(gitlab.notes(PROJECT, 12)).toHaveLength(1);
  });

  it('follows X-Next-Page through three pages and skips system notes', async () => {
    gitlab.seed(
      PROJECT,
      12,
      Array.from({ length: 150 }, (_, i) => `discussion ${i}`),
    );
    gitlab.seed(PROJECT, 12, [`mentioned ${planMarker('tools')} in a system note`], { system: true });
    gitlab.seed(
      PROJECT,
      12,
      Array.from({ length: 60 }, (_, i) => `more ${i}`),
    );
    gitlab.seed(PROJECT, 12, [`${planMarker('tools')}\nold`]);
    const mine = gitlab.notes(PROJECT, 12).at(-1)!;
    const result = await publishGitlab(plan, ctx, { ...fast, target: 'tools' });
    expect(result).toMatchObject({ action: 'updated', comment: { id: mine.id } });
    expect(calls()).toEqual([
      `GET ${notesPath}`,
      `GET ${notesPath}?page=2`,
      `GET ${notesPath}?page=3`,
      `PUT ${notesPath}/${mine.id}`,
    ]);
  });

  it('keeps one note per target', async () => {
    await publishGitlab(plan, ctx, { ...fast, target: 'a' });
    await publishGitlab(plan, ctx, { ...fast, target: 'b' });
    expect(gitlab.notes(PROJECT, 12).map((n) => n.body.split('\n')[0])).toEqual([
      planMarker('a'),
      planMarker('b'),
    ]);
  });

  it('sets the label with one merge request update', async () => {
    const result = await publishGitlab(plan, ctx, { ...fast, labels: true });
    expect(result.label).toBe('arbor:build');
    const put = gitlab.requests.at(-1)!;
    expect(`${put.method} ${put.path}`).toBe(`PUT /api/v4/projects/${ENCODED}/merge_requests/12`);
    expect(put.body).toEqual({ add_labels: 'arbor:build', remove_labels: 'arbor:no-changes' });
    expect(gitlab.labels(PROJECT, 12)).toEqual(['arbor:build']);
  });

  it('retries 5xx', async () => {
    gitlab.failNext(1, 500);
    await publishGitlab(plan, ctx, fast);
    expect(calls()).toEqual([`GET ${notesPath}`, `GET ${notesPath}`, `POST ${notesPath}`]);
  });

  it('explains that a CI job token cannot post notes', async () => {
    const job = { ...ctx, token: JOB_TOKEN, jobToken: true };
    const error = await publishGitlab(plan, job, fast).catch((e) => e);
    expect(error).toBeInstanceOf(ArborError);
    expect(error.message).toContain(`GitLab API: POST ${notesPath} → 403 403 Forbidden`);
    expect(error.message).toContain('CI_JOB_TOKEN cannot post merge request notes');
    expect(error.message).not.toContain(JOB_TOKEN);
    expect(gitlab.requests[0]!.headers['job-token']).toBe(JOB_TOKEN);
    expect(gitlab.notes(PROJECT, 12)).toHaveLength(0);
  });

  it("reports 401 with GitLab's message", async () => {
    await expect(publishGitlab(plan, { ...ctx, token: 'glpat-wrong-000000' }, fast)).rejects.toThrow(
      `GitLab API: GET ${notesPath} → 401 401 Unauthorized`,
    );
  });
});

describe('gitlabContextFromEnv', () => {
  const env = {
    CI_API_V4_URL: 'https://gitlab.example/api/v4',
    CI_PROJECT_ID: '42',
    CI_MERGE_REQUEST_IID: '12',
    GITLAB_TOKEN: TOKEN,
  };

  it('reads GitLab CI variables and prefers GITLAB_TOKEN over CI_JOB_TOKEN', () => {
    expect(gitlabContextFromEnv({ ...env, CI_JOB_TOKEN: JOB_TOKEN })).toEqual({
      apiUrl: env.CI_API_V4_URL,
      projectId: '42',
      mergeRequestIid: 12,
      token: TOKEN,
      jobToken: false,
    });
    const { GITLAB_TOKEN: _, ...withoutToken } = env;
    expect(gitlabContextFromEnv({ ...withoutToken, CI_JOB_TOKEN: JOB_TOKEN })).toMatchObject({
      jobToken: true,
    });
    expect(gitlabContextFromEnv(env, 99).mergeRequestIid).toBe(99);
  });

  it('names every missing variable in one line', () => {
    expect(() => gitlabContextFromEnv({ CI_PROJECT_ID: '1' })).toThrow(
      'arbor comment --gitlab: missing environment variable CI_API_V4_URL, CI_MERGE_REQUEST_IID (or pass --pr N), GITLAB_TOKEN',
    );
  });
});
