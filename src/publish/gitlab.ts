// `arbor comment --gitlab`: the plan as one merge-request note per target, updated in place,
// through GitLab's REST API. https://docs.gitlab.com/api/notes/#merge-requests
import { ArborError } from '../errors.js';
import type { Plan } from '../plan/model.js';
import { planMarker, renderMarkdown } from '../plan/views/markdown.js';
import { registerSecret } from '../secrets.js';
import type { PublishResult } from './github.js';
import { ApiClient, type ApiResponse, ApiStatusError, nextLink } from './http.js';
import { otherLabel, type PlanLabel, planLabel } from './labels.js';
import { type CommentThread, type PostedComment, upsertComment } from './upsert.js';

/** GitLab's note limit is 1,000,000 characters; the GitHub-sized default keeps notes readable. */
const GITLAB_NOTE_CHARS = 65_536;

export interface GitlabContext {
  /** `CI_API_V4_URL`, e.g. `https://gitlab.example.com/api/v4`. */
  apiUrl: string;
  /** Numeric id or `group/project` path. */
  projectId: string;
  mergeRequestIid: number;
  token: string;
  /** A CI job token (`CI_JOB_TOKEN`) rather than a personal/project access token. */
  jobToken: boolean;
}

export interface GitlabPublishOptions {
  target?: string;
  labels?: boolean;
  retryBaseMs?: number;
}

export function gitlabContextFromEnv(env: NodeJS.ProcessEnv, iid?: number): GitlabContext {
  const missing = ['CI_API_V4_URL', 'CI_PROJECT_ID'].filter((name) => !env[name]);
  if (iid === undefined && !env.CI_MERGE_REQUEST_IID) missing.push('CI_MERGE_REQUEST_IID (or pass --pr N)');
  if (!env.GITLAB_TOKEN && !env.CI_JOB_TOKEN) missing.push('GITLAB_TOKEN');
  if (missing.length > 0) {
    throw new ArborError(`arbor comment --gitlab: missing environment variable ${missing.join(', ')}`);
  }
  const token = env.GITLAB_TOKEN || env.CI_JOB_TOKEN!;
  registerSecret(token);
  const mergeRequestIid = iid ?? Number(env.CI_MERGE_REQUEST_IID);
  if (!Number.isInteger(mergeRequestIid) || mergeRequestIid < 1) {
    throw new ArborError(
      `CI_MERGE_REQUEST_IID must be a merge request number, got "${env.CI_MERGE_REQUEST_IID}"`,
    );
  }
  return {
    apiUrl: env.CI_API_V4_URL!,
    projectId: env.CI_PROJECT_ID!,
    mergeRequestIid,
    token,
    jobToken: !env.GITLAB_TOKEN,
  };
}

export function gitlabClient(ctx: GitlabContext, retryBaseMs?: number): ApiClient {
  return new ApiClient({
    service: 'GitLab',
    baseUrl: ctx.apiUrl,
    headers: {
      // Job tokens authenticate with their own header; access tokens with PRIVATE-TOKEN.
      ...(ctx.jobToken ? { 'job-token': ctx.token } : { 'private-token': ctx.token }),
      accept: 'application/json',
      'user-agent': 'arbor',
    },
    ...(retryBaseMs === undefined ? {} : { retryBaseMs }),
  });
}

interface GitlabNote {
  id: number;
  body?: string | null;
  system?: boolean;
}

function toPosted(n: GitlabNote): PostedComment {
  return { id: n.id, body: n.body ?? '' };
}

function mergeRequestPath(ctx: GitlabContext): string {
  return `/projects/${encodeURIComponent(ctx.projectId)}/merge_requests/${ctx.mergeRequestIid}`;
}

export function gitlabThread(client: ApiClient, ctx: GitlabContext): CommentThread {
  const notes = `${mergeRequestPath(ctx)}/notes`;
  return {
    async *pages() {
      const query = { per_page: 100, sort: 'asc', order_by: 'created_at' };
      let next: string | null = client.url(notes, query).toString();
      while (next) {
        const res: ApiResponse<GitlabNote[]> = await client.send<GitlabNote[]>('GET', next);
        yield (Array.isArray(res.body) ? res.body : []).filter((n) => !n.system).map(toPosted);
        // GitLab sends both; X-Next-Page is empty on the last page and survives keyset-less proxies.
        const page = res.headers['x-next-page'];
        const nextPage = Array.isArray(page) ? page[0] : page;
        next = nextPage
          ? client.url(notes, { ...query, page: nextPage }).toString()
          : nextLink(res.headers.link);
      }
    },
    async create(body) {
      return toPosted((await client.send<GitlabNote>('POST', notes, { body: { body } })).body);
    },
    async update(id, body) {
      return toPosted((await client.send<GitlabNote>('PUT', `${notes}/${id}`, { body: { body } })).body);
    },
  };
}

export async function setGitlabLabel(client: ApiClient, ctx: GitlabContext, plan: Plan): Promise<PlanLabel> {
  const label = planLabel(plan);
  await client.send('PUT', mergeRequestPath(ctx), {
    body: { add_labels: label, remove_labels: otherLabel(label) },
  });
  return label;
}

export async function publishGitlab(
  plan: Plan,
  ctx: GitlabContext,
  options: GitlabPublishOptions = {},
): Promise<PublishResult> {
  const client = gitlabClient(ctx, options.retryBaseMs);
  const body = renderMarkdown(plan, { target: options.target, maxChars: GITLAB_NOTE_CHARS });
  let result: Awaited<ReturnType<typeof upsertComment>>;
  try {
    result = await upsertComment(gitlabThread(client, ctx), planMarker(options.target), body);
  } catch (e) {
    if (ctx.jobToken && e instanceof ApiStatusError && (e.status === 401 || e.status === 403)) {
      throw new ArborError(
        `${e.message} — CI_JOB_TOKEN cannot post merge request notes on most GitLab versions; ` +
          'set GITLAB_TOKEN to a project access token with the api scope',
      );
    }
    throw e;
  }
  const label = options.labels ? await setGitlabLabel(client, ctx, plan) : undefined;
  return {
    ...result,
    where: `${ctx.projectId}!${ctx.mergeRequestIid}`,
    ...(label ? { label } : {}),
  };
}
