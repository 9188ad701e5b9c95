// `arbor comment --github`: the plan as one pull-request comment per target, updated in place on
// every run, through GitHub's REST API (issue comments; a pull request is an issue there).
// https://docs.github.com/en/rest/issues/comments
import { appendFile, readFile } from 'node:fs/promises';
import { ArborError } from '../errors.js';
import type { Plan } from '../plan/model.js';
import { GITHUB_COMMENT_LIMIT, planMarker, renderMarkdown } from '../plan/views/markdown.js';
import { registerSecret } from '../secrets.js';
import { ApiClient, type ApiResponse, ApiStatusError, nextLink } from './http.js';
import { otherLabel, type PlanLabel, planLabel } from './labels.js';
import { type CommentThread, type PostedComment, type UpsertResult, upsertComment } from './upsert.js';

export const DEFAULT_GITHUB_API_URL = 'https://api.github.com';

export interface GithubContext {
  apiUrl: string;
  token: string;
  /** `owner/name` */
  repository: string;
  pr: number;
  /** `$GITHUB_STEP_SUMMARY`, when set. */
  stepSummary?: string;
}

export interface GithubPublishOptions {
  /** Tree name: one comment per target. */
  target?: string;
  labels?: boolean;
  /** Back-off of retries; tests shorten it. */
  retryBaseMs?: number;
}

export interface PublishResult extends UpsertResult {
  /** Where it went, for the CLI's message: `owner/name#7`. */
  where: string;
  label?: PlanLabel;
}

/**
 * Reads the GitHub Actions environment. Every missing variable is named in one line, before any
 * request is made. `pr` (from `--pr`) wins over the event payload.
 */
export async function githubContextFromEnv(env: NodeJS.ProcessEnv, pr?: number): Promise<GithubContext> {
  const missing = ['GITHUB_TOKEN', 'GITHUB_REPOSITORY'].filter((name) => !env[name]);
  if (pr === undefined && !env.GITHUB_EVENT_PATH) missing.push('GITHUB_EVENT_PATH (or pass --pr N)');
  if (missing.length > 0) {
    throw new ArborError(`arbor comment --github: missing environment variable ${missing.join(', ')}`);
  }
  const token = env.GITHUB_TOKEN!;
  registerSecret(token);
  const repository = env.GITHUB_REPOSITORY!;
  if (!/^[\w.-]+\/[\w.-]+$/.test(repository)) {
    throw new ArborError(`GITHUB_REPOSITORY must be owner/name, got "${repository}"`);
  }
  return {
    apiUrl: env.GITHUB_API_URL || DEFAULT_GITHUB_API_URL,
    token,
    repository,
    pr: pr ?? (await prFromEvent(env.GITHUB_EVENT_PATH!)),
    ...(env.GITHUB_STEP_SUMMARY ? { stepSummary: env.GITHUB_STEP_SUMMARY } : {}),
  };
}

/** `pull_request.number` (pull_request events) or `issue.number` (issue_comment events). */
async function prFromEvent(path: string): Promise<number> {
  let event: { pull_request?: { number?: unknown }; issue?: { number?: unknown } };
  try {
    event = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new ArborError(`GITHUB_EVENT_PATH ${path}: cannot read the event: ${(e as Error).message}`);
  }
  const number = event?.pull_request?.number ?? event?.issue?.number;
  if (typeof number !== 'number' || !Number.isInteger(number) || number < 1) {
    throw new ArborError(
      `GITHUB_EVENT_PATH ${path}: no pull_request.number or issue.number (not a pull request event); pass --pr N`,
    );
  }
  return number;
}

export function githubClient(ctx: GithubContext, retryBaseMs?: number): ApiClient {
  return new ApiClient({
    service: 'GitHub',
    baseUrl: ctx.apiUrl,
    headers: {
      authorization: `Bearer ${ctx.token}`,
      accept: 'application/vnd.github+json',
      'x-github-api-version': '2022-11-28',
      'user-agent': 'arbor',
    },
    ...(retryBaseMs === undefined ? {} : { retryBaseMs }),
  });
}

interface GithubComment {
  id: number;
  body?: string | null;
  html_url?: string;
}

function toPosted(c: GithubComment): PostedComment {
  return { id: c.id, body: c.body ?? '', ...(c.html_url ? { url: c.html_url } : {}) };
}

export function githubThread(client: ApiClient, ctx: GithubContext): CommentThread {
  const comments = `/repos/${ctx.repository}/issues/${ctx.pr}/comments`;
  return {
    async *pages() {
      let next: string | null = client.url(comments, { per_page: 100 }).toString();
      while (next) {
        const res: ApiResponse<GithubComment[]> = await client.send<GithubComment[]>('GET', next);
        yield (Array.isArray(res.body) ? res.body : []).map(toPosted);
        next = nextLink(res.headers.link);
      }
    },
    async create(body) {
      return toPosted((await client.send<GithubComment>('POST', comments, { body: { body } })).body);
    },
    async update(id, body) {
      const path = `/repos/${ctx.repository}/issues/comments/${id}`;
      return toPosted((await client.send<GithubComment>('PATCH', path, { body: { body } })).body);
    },
  };
}

/** Adds `arbor:build` or `arbor:no-changes` and removes the other when the pull request has it. */
export async function setGithubLabel(client: ApiClient, ctx: GithubContext, plan: Plan): Promise<PlanLabel> {
  const label = planLabel(plan);
  const labels = `/repos/${ctx.repository}/issues/${ctx.pr}/labels`;
  const res = await client.send<{ name: string }[]>('POST', labels, { body: { labels: [label] } });
  const other = otherLabel(label);
  if (Array.isArray(res.body) && res.body.some((l) => l.name === other)) {
    await client.send('DELETE', `${labels}/${encodeURIComponent(other)}`);
  }
  return label;
}

export async function publishGithub(
  plan: Plan,
  ctx: GithubContext,
  options: GithubPublishOptions = {},
): Promise<PublishResult> {
  const client = githubClient(ctx, options.retryBaseMs);
  const thread = githubThread(client, ctx);
  const marker = planMarker(options.target);
  const render = (maxChars: number) => renderMarkdown(plan, { target: options.target, maxChars });

  const tooLong = (e: unknown): e is ApiStatusError => e instanceof ApiStatusError && e.status === 422;
  const result = await upsertComment(thread, marker, render(GITHUB_COMMENT_LIMIT), {
    // GitHub counts differently than we do (or lowered its limit): one try at half the size.
    isTooLong: tooLong,
    smaller: () => render(Math.floor(GITHUB_COMMENT_LIMIT / 2)),
    giveUp: (e, body) =>
      new ArborError(
        `GitHub refused the plan comment as invalid twice, the second time at ${body.length} characters ` +
          `(422 ${(e as ApiStatusError).apiMessage})`,
      ),
  });
  if (ctx.stepSummary) await appendFile(ctx.stepSummary, `${result.body}\n`);
  const label = options.labels ? await setGithubLabel(client, ctx, plan) : undefined;
  return { ...result, where: `${ctx.repository}#${ctx.pr}`, ...(label ? { label } : {}) };
}
