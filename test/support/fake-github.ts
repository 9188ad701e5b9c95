// GitHub's REST API for issue comments and labels, as a loopback HTTP server speaking the real
// wire format (status codes, JSON bodies, `Link` pagination), recording every request so tests
// can assert exactly what arbor sent. GitHub itself cannot run here; this is the stand-in.
// Shapes: https://docs.github.com/en/rest/issues/comments , https://docs.github.com/en/rest/issues/labels
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path without the query, as sent (percent-encoding kept). */
  path: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON body, or undefined without one. */
  body: unknown;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RecordingServer {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  requests: RecordedRequest[];
  /** The next `count` requests answer `status` (default 502) before reaching the handler. */
  failNext(count: number, status?: number): void;
  close(): Promise<void>;
}

/** A loopback JSON server: records each request, then lets `handle` answer it. */
export async function startRecordingServer(
  handle: (req: RecordedRequest, origin: string) => Reply,
): Promise<RecordingServer> {
  const requests: RecordedRequest[] = [];
  let failures: { count: number; status: number } = { count: 0, status: 502 };
  let origin = '';
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', origin);
      const text = Buffer.concat(chunks).toString('utf8');
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET',
        path: (req.url ?? '/').split('?')[0]!,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body: text ? JSON.parse(text) : undefined,
      };
      requests.push(recorded);
      let reply: Reply;
      if (failures.count > 0) {
        failures.count--;
        reply = { status: failures.status, body: { message: 'Server Error' } };
      } else {
        reply = handle(recorded, origin);
      }
      res.writeHead(reply.status, { 'content-type': 'application/json; charset=utf-8', ...reply.headers });
      res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    requests,
    failNext(count, status = 502) {
      failures = { count, status };
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}

export interface FakeComment {
  id: number;
  body: string;
  html_url: string;
  user: { login: string };
}

export interface FakeGithub extends RecordingServer {
  /** Value for GITHUB_API_URL (includes `prefix`, like GitHub Enterprise's `/api/v3`). */
  apiUrl: string;
  /** Comments of `owner/name#number`, oldest first. */
  comments(repository: string, issue: number): FakeComment[];
  /** Adds comments written by someone else (to exercise pagination). */
  seed(repository: string, issue: number, bodies: string[]): void;
  labels(repository: string, issue: number): string[];
  /** The answer to every request when set (401 Bad credentials, 403 …). */
  deny(status: 401 | 403 | null): void;
}

const DOCS = 'https://docs.github.com/rest';

export async function startFakeGithub(
  options: { token?: string; prefix?: string; maxBodyChars?: number } = {},
): Promise<FakeGithub> {
  const token = options.token ?? 'ghs_faketoken0123456789';
  const prefix = options.prefix ?? '';
  const maxBody = options.maxBodyChars ?? 65_536;
  const threads = new Map<string, FakeComment[]>();
  const labelSets = new Map<string, Set<string>>();
  let nextId = 1000;
  let denied: 401 | 403 | null = null;

  const thread = (repo: string, issue: number) => {
    const key = `${repo}#${issue}`;
    if (!threads.has(key)) threads.set(key, []);
    return threads.get(key)!;
  };
  const labelsOf = (repo: string, issue: number) => {
    const key = `${repo}#${issue}`;
    if (!labelSets.has(key)) labelSets.set(key, new Set());
    return labelSets.get(key)!;
  };
  const labelList = (set: Set<string>) => [...set].map((name, i) => ({ id: i + 1, name, color: 'ededed' }));
  const error = (status: number, message: string, extra: object = {}): Reply => ({
    status,
    body: { message, ...extra, documentation_url: DOCS, status: String(status) },
  });
  const tooLong = (body: unknown): Reply | null => {
    const text = (body as { body?: unknown })?.body;
    if (typeof text !== 'string') return error(422, 'Invalid request.\n\n"body" wasn\'t supplied.');
    if (text.length <= maxBody) return null;
    return error(422, 'Validation Failed', {
      errors: [
        {
          resource: 'IssueComment',
          code: 'custom',
          field: 'body',
          message: `body is too long (maximum is ${maxBody} characters)`,
        },
      ],
    });
  };

  const server = await startRecordingServer((req, origin) => {
    if (denied === 401 || req.headers.authorization !== `Bearer ${token}`)
      return error(401, 'Bad credentials');
    if (denied === 403) return error(403, 'Resource not accessible by integration');
    if (!req.path.startsWith(`${prefix}/repos/`)) return error(404, 'Not Found');
    const parts = req.path.slice(`${prefix}/repos/`.length).split('/').map(decodeURIComponent);
    const repo = `${parts[0]}/${parts[1]}`;
    const rest = parts.slice(2);

    // /issues/:n/comments
    if (rest[0] === 'issues' && rest[2] === 'comments' && rest.length === 3) {
      const issue = Number(rest[1]);
      const list = thread(repo, issue);
      if (req.method === 'GET') {
        const perPage = Math.min(Number(req.query.per_page ?? 30), 100);
        const page = Number(req.query.page ?? 1);
        const pages = Math.max(1, Math.ceil(list.length / perPage));
        const link = (p: number, rel: string) =>
          `<${origin}${req.path}?per_page=${perPage}&page=${p}>; rel="${rel}"`;
        const links: string[] = [];
        if (page < pages) links.push(link(page + 1, 'next'), link(pages, 'last'));
        if (page > 1) links.push(link(1, 'first'), link(page - 1, 'prev'));
        return {
          status: 200,
          body: list.slice((page - 1) * perPage, page * perPage),
          headers: links.length ? { link: links.join(', ') } : {},
        };
      }
      if (req.method === 'POST') {
        const invalid = tooLong(req.body);
        if (invalid) return invalid;
        const id = nextId++;
        const comment: FakeComment = {
          id,
          body: (req.body as { body: string }).body,
          html_url: `https://github.example/${repo}/pull/${issue}#issuecomment-${id}`,
          user: { login: 'github-actions[bot]' },
        };
        list.push(comment);
        return { status: 201, body: comment };
      }
    }
    // /issues/comments/:id
    if (rest[0] === 'issues' && rest[1] === 'comments' && rest.length === 3 && req.method === 'PATCH') {
      const id = Number(rest[2]);
      const comment = [...threads.values()].flat().find((c) => c.id === id);
      if (!comment) return error(404, 'Not Found');
      const invalid = tooLong(req.body);
      if (invalid) return invalid;
      comment.body = (req.body as { body: string }).body;
      return { status: 200, body: comment };
    }
    // /issues/:n/labels[/:name]
    if (rest[0] === 'issues' && rest[2] === 'labels') {
      const set = labelsOf(repo, Number(rest[1]));
      if (req.method === 'POST' && rest.length === 3) {
        for (const name of (req.body as { labels: string[] }).labels) set.add(name);
        return { status: 200, body: labelList(set) };
      }
      if (req.method === 'DELETE' && rest.length === 4) {
        if (!set.delete(rest[3]!)) return error(404, 'Label does not exist');
        return { status: 200, body: labelList(set) };
      }
    }
    return error(404, 'Not Found');
  });

  return {
    ...server,
    apiUrl: `${server.origin}${prefix}`,
    comments: (repo, issue) => thread(repo, issue),
    seed(repo, issue, bodies) {
      for (const body of bodies) {
        const id = nextId++;
        thread(repo, issue).push({
          id,
          body,
          html_url: `https://github.example/c/${id}`,
          user: { login: 'someone' },
        });
      }
    },
    labels: (repo, issue) => [...labelsOf(repo, issue)],
    deny(status) {
      denied = status;
    },
  };
}
