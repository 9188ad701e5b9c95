// Docker Hub's web API (hub.docker.com/v2) as a loopback HTTP server speaking its wire format:
// `POST /v2/users/login` → `{token}`, tag listing with `count/next/previous/results` pages,
// `DELETE /v2/repositories/{ns}/{repo}/tags/{tag}/` → 204, and rate limiting (429 with
// `Retry-After` and `X-RateLimit-*` headers). Docker Hub cannot be reached here; this is the stand-in.
import { type RecordingServer, startRecordingServer } from './fake-github.js';

export interface FakeDockerHub extends RecordingServer {
  /** Set as the API base (env ARBOR_DOCKERHUB_API). */
  apiUrl: string;
  /** Tags of `namespace/name` → digest. */
  /** Tags → digests; `pushed`: tag → when it was last pushed (ISO), default 2025-01-01. */
  seed(repository: string, tags: Record<string, string>, pushed?: Record<string, string>): void;
  tags(repository: string): string[];
  /** The next `count` authorized requests answer 429 with `Retry-After: seconds`. */
  rateLimitNext(count: number, retryAfterSeconds: number): void;
}

export async function startFakeDockerHub(
  options: { username?: string; password?: string; pageSize?: number } = {},
): Promise<FakeDockerHub> {
  const username = options.username ?? 'arbor-bot';
  const password = options.password ?? 'dckr_pat_fake0123456789';
  const token = 'eyJhbGciOiJIUzI1NiJ9.fake-hub-jwt.signature';
  const repositories = new Map<string, Map<string, string>>();
  const pushedAt = new Map<string, Record<string, string>>();
  let limited = { count: 0, seconds: 0 };

  const server = await startRecordingServer((req, origin) => {
    if (req.method === 'POST' && req.path === '/v2/users/login') {
      const body = req.body as { username?: string; password?: string } | undefined;
      if (body?.username === username && body?.password === password) return { status: 200, body: { token } };
      return { status: 401, body: { detail: 'Incorrect authentication credentials' } };
    }
    if (req.headers.authorization !== `Bearer ${token}`)
      return { status: 401, body: { detail: 'Authentication credentials were not provided.' } };
    if (limited.count > 0) {
      limited.count--;
      return {
        status: 429,
        body: { detail: 'Request was throttled.' },
        headers: {
          'retry-after': String(limited.seconds),
          'x-ratelimit-limit': '180',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(Math.ceil(Date.now() / 1000) + limited.seconds),
        },
      };
    }
    const list = /^\/v2\/namespaces\/([^/]+)\/repositories\/([^/]+)\/tags\/?$/.exec(req.path);
    if (req.method === 'GET' && list) {
      const repo = repositories.get(`${list[1]}/${list[2]}`);
      if (!repo) return { status: 404, body: { message: 'object not found' } };
      const size = Math.min(Number(req.query.page_size ?? 10), options.pageSize ?? 100);
      const page = Number(req.query.page ?? 1);
      const names = [...repo.keys()].sort();
      const slice = names.slice((page - 1) * size, page * size);
      const url = (p: number) => `${origin}${req.path}?page=${p}&page_size=${size}`;
      return {
        status: 200,
        body: {
          count: names.length,
          next: page * size < names.length ? url(page + 1) : null,
          previous: page > 1 ? url(page - 1) : null,
          results: slice.map((name) => ({
            name,
            digest: repo.get(name),
            last_updated: pushedAt.get(`${list[1]}/${list[2]}`)?.[name] ?? '2025-01-01T00:00:00.000000Z',
            tag_last_pushed: pushedAt.get(`${list[1]}/${list[2]}`)?.[name] ?? '2025-01-01T00:00:00.000000Z',
            tag_status: 'active',
            images: [{ architecture: 'amd64', os: 'linux', digest: repo.get(name), status: 'active' }],
          })),
        },
      };
    }
    const del = /^\/v2\/repositories\/([^/]+)\/([^/]+)\/tags\/([^/]+)\/$/.exec(req.path);
    if (req.method === 'DELETE' && del) {
      const repo = repositories.get(`${del[1]}/${del[2]}`);
      const tag = decodeURIComponent(del[3]!);
      if (!repo?.has(tag)) return { status: 404, body: { message: 'tag not found' } };
      repo.delete(tag);
      return { status: 204 };
    }
    return { status: 404, body: { message: `no route ${req.method} ${req.path}` } };
  });

  return {
    ...server,
    apiUrl: server.origin,
    seed(repository, tags, pushed = {}) {
      repositories.set(repository, new Map(Object.entries(tags)));
      pushedAt.set(repository, pushed);
    },
    tags(repository) {
      return [...(repositories.get(repository)?.keys() ?? [])].sort();
    },
    rateLimitNext(count, seconds) {
      limited = { count, seconds };
    },
  };
}
