// Docker Hub deletes through its web API, not the registry API (which answers 405/UNSUPPORTED to
// DELETE): log in (`POST /v2/users/login` with a username and a password or personal access
// token → JWT), list tags (`GET /v2/namespaces/{ns}/repositories/{repo}/tags?page_size=100`,
// following `next`), delete a tag (`DELETE /v2/repositories/{ns}/{repo}/tags/{tag}/`). Hub
// removes an image once no tag points at it. Rate limits: a 429 waits for `Retry-After` or
// `X-RateLimit-Reset`, and a response announcing `X-RateLimit-Remaining: 0` makes the next
// request wait for the reset.

import { ArborError } from '../errors.js';
import { request } from '../registry/transport/undici.js';
import { registerSecret } from '../secrets.js';

export const DOCKER_HUB_API = 'https://hub.docker.com';

export interface DockerHubOptions {
  /** Default https://hub.docker.com, or env ARBOR_DOCKERHUB_API (tests point it at a loopback fake). */
  baseUrl?: string;
  username: string;
  /** Password or personal access token. */
  password: string;
  /** Longest wait for a rate-limit reset before giving up (default 15 min). */
  maxWaitMs?: number;
  /** Attempts per request after a 429 or 5xx (default 5). */
  retries?: number;
  /** Clock and sleep, replaceable in tests. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface HubTag {
  name: string;
  /** The manifest digest (an index for multi-arch images); may be absent for very old images. */
  digest?: string;
  lastUpdated?: string;
  /** When the tag was last pushed (written or moved), as Hub records it. */
  lastPushed?: string;
}

interface HubResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  json: unknown;
}

/** DOCKERHUB_USERNAME + DOCKERHUB_TOKEN (or DOCKERHUB_PASSWORD) from the environment, or undefined. */
export function hubCredentialsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): Pick<DockerHubOptions, 'username' | 'password'> | undefined {
  const username = env.DOCKERHUB_USERNAME;
  const password = env.DOCKERHUB_TOKEN ?? env.DOCKERHUB_PASSWORD;
  if (!username || !password) return undefined;
  registerSecret(password);
  return { username, password };
}

export class DockerHubClient {
  readonly baseUrl: string;
  private token: string | undefined;
  private notBefore = 0;
  /** Requests sent, for reports and tests. */
  requests = 0;
  private readonly options: Required<Pick<DockerHubOptions, 'maxWaitMs' | 'retries' | 'now' | 'sleep'>> &
    DockerHubOptions;

  constructor(options: DockerHubOptions) {
    registerSecret(options.password);
    this.baseUrl = (options.baseUrl ?? process.env.ARBOR_DOCKERHUB_API ?? DOCKER_HUB_API).replace(/\/+$/, '');
    this.options = {
      maxWaitMs: 15 * 60_000,
      retries: 5,
      now: Date.now,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      ...options,
    };
  }

  async login(): Promise<void> {
    const response = await this.send('POST', '/v2/users/login', {
      username: this.options.username,
      password: this.options.password,
    });
    const token = (response.json as { token?: unknown } | undefined)?.token;
    if (response.status !== 200 || typeof token !== 'string')
      throw new ArborError(
        `Docker Hub login as ${this.options.username} failed (${response.status}): ${hubMessage(response.json) ?? 'no token in the answer'}`,
      );
    registerSecret(token);
    this.token = token;
  }

  /** Every tag of `namespace/name`, across pages. */
  async listTags(repository: string): Promise<HubTag[]> {
    const [namespace, name] = split(repository);
    let url: string | undefined =
      `/v2/namespaces/${encodeURIComponent(namespace)}/repositories/${encodeURIComponent(name)}/tags?page_size=100`;
    const tags: HubTag[] = [];
    const seen = new Set<string>();
    while (url && !seen.has(url)) {
      seen.add(url);
      const response = await this.authorized('GET', url);
      if (response.status === 404) return [];
      if (response.status !== 200) throw this.failure(`list tags of ${repository}`, response);
      const page = response.json as { next?: unknown; results?: unknown };
      if (!Array.isArray(page.results))
        throw new ArborError(`Docker Hub: malformed tag list for ${repository}`);
      for (const r of page.results as Array<Record<string, unknown>>) {
        if (typeof r.name !== 'string') continue;
        tags.push({
          name: r.name,
          ...(typeof r.digest === 'string' ? { digest: r.digest } : {}),
          ...(typeof r.last_updated === 'string' ? { lastUpdated: r.last_updated } : {}),
          ...(typeof r.tag_last_pushed === 'string' ? { lastPushed: r.tag_last_pushed } : {}),
        });
      }
      url = typeof page.next === 'string' && page.next !== '' ? this.sameOrigin(page.next) : undefined;
    }
    return tags;
  }

  /** Deletes one tag; a tag already gone is not an error. */
  async deleteTag(repository: string, tag: string): Promise<'deleted' | 'not-found'> {
    const [namespace, name] = split(repository);
    const response = await this.authorized(
      'DELETE',
      `/v2/repositories/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/tags/${encodeURIComponent(tag)}/`,
    );
    if (response.status === 204 || response.status === 200 || response.status === 202) return 'deleted';
    if (response.status === 404) return 'not-found';
    throw this.failure(`delete ${repository}:${tag}`, response);
  }

  private async authorized(method: string, path: string): Promise<HubResponse> {
    if (!this.token) await this.login();
    let response = await this.send(method, path);
    if (response.status === 401) {
      // The JWT expired mid-run: log in once more.
      await this.login();
      response = await this.send(method, path);
    }
    return response;
  }

  private async send(method: string, path: string, body?: unknown): Promise<HubResponse> {
    const url = new URL(path, `${this.baseUrl}/`).href;
    for (let attempt = 0; ; attempt++) {
      await this.waitForBudget();
      this.requests++;
      const response = await request(url, {
        method: method as 'GET',
        headers: {
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(this.token && !path.startsWith('/v2/users/login')
            ? { authorization: `Bearer ${this.token}` }
            : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await response.body.text();
      let json: unknown;
      try {
        json = text ? JSON.parse(text) : undefined;
      } catch {
        json = undefined;
      }
      const headers = response.headers as HubResponse['headers'];
      this.noteBudget(headers);
      const retryable = response.statusCode === 429 || response.statusCode >= 500;
      if (!retryable || attempt >= this.options.retries)
        return { status: response.statusCode, headers, json };
      const wait = response.statusCode === 429 ? this.retryDelay(headers) : 1000 * 2 ** attempt;
      if (wait > this.options.maxWaitMs)
        throw new ArborError(
          `Docker Hub rate limit: ${method} ${path} may be retried in ${Math.ceil(wait / 1000)} s, longer than the ${Math.ceil(this.options.maxWaitMs / 1000)} s arbor waits; run again later`,
        );
      await this.options.sleep(wait);
    }
  }

  /** `X-RateLimit-Remaining: 0` announces that the next request would be refused until the reset. */
  private noteBudget(headers: HubResponse['headers']): void {
    const remaining = Number(first(headers['x-ratelimit-remaining']));
    const reset = Number(first(headers['x-ratelimit-reset']));
    if (remaining === 0 && Number.isFinite(reset)) this.notBefore = reset * 1000;
  }

  private async waitForBudget(): Promise<void> {
    const wait = this.notBefore - this.options.now();
    if (wait <= 0) return;
    if (wait > this.options.maxWaitMs)
      throw new ArborError(
        `Docker Hub rate limit: the budget resets in ${Math.ceil(wait / 1000)} s; run again later`,
      );
    await this.options.sleep(wait);
  }

  private retryDelay(headers: HubResponse['headers']): number {
    const after = first(headers['retry-after']);
    if (after !== undefined) {
      const seconds = Number(after);
      if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
      const date = Date.parse(after);
      if (!Number.isNaN(date)) return Math.max(0, date - this.options.now());
    }
    const reset = Number(first(headers['x-ratelimit-reset']));
    if (Number.isFinite(reset)) return Math.max(0, reset * 1000 - this.options.now());
    return 60_000;
  }

  /** A `next` link elsewhere would receive the token: refuse it. */
  private sameOrigin(link: string): string {
    const url = new URL(link, `${this.baseUrl}/`);
    if (url.origin !== new URL(this.baseUrl).origin)
      throw new ArborError(`Docker Hub: refusing a next-page link to another origin (${url.origin})`);
    return url.href;
  }

  private failure(what: string, response: HubResponse): ArborError {
    return new ArborError(
      `Docker Hub: cannot ${what} (${response.status}): ${hubMessage(response.json) ?? 'unexpected answer'}`,
    );
  }
}

function split(repository: string): [string, string] {
  const slash = repository.indexOf('/');
  // Official images live in the `library` namespace.
  if (slash < 0) return ['library', repository];
  return [repository.slice(0, slash), repository.slice(slash + 1)];
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function hubMessage(json: unknown): string | undefined {
  const j = json as { message?: unknown; detail?: unknown } | undefined;
  if (typeof j?.message === 'string') return j.message;
  if (typeof j?.detail === 'string') return j.detail;
  return undefined;
}

/**
 * When each tag of `repository` was last pushed, as Hub says (`tag_last_pushed`, else
 * `last_updated`): the one registry arbor talks to that reports tag write times. Retention's grace
 * period counts from them (observe.ts), so a re-tag of an old image on Hub is recent.
 */
export async function hubTagTimes(hub: DockerHubClient, repository: string): Promise<Map<string, number>> {
  const times = new Map<string, number>();
  for (const tag of await hub.listTags(repository)) {
    const at = Date.parse(tag.lastPushed ?? tag.lastUpdated ?? '');
    if (!Number.isNaN(at)) times.set(tag.name, at);
  }
  return times;
}
