// A small loopback HTTP proxy in front of a real registry that can misbehave on request: fail
// the next N requests with a status (and Retry-After), answer manifests with garbage JSON, or add
// headers (rate-limit budgets) to every answer. Everything else is the registry's own answer.
import { once } from 'node:events';
import { Agent, createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ProxiedRequest {
  method: string;
  url: string;
  /** Status the client received (injected or the registry's). */
  status: number;
  injected: boolean;
  /** Milliseconds since the proxy started. */
  at: number;
}

export interface FailOptions {
  retryAfter?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Never answer (the connection stays open, silent), to exercise client timeouts. */
  hang?: boolean;
  /** Only requests matching count toward N (default: all). */
  match?: (method: string, url: string) => boolean;
}

/**
 * Faults at random, reproducibly (seeded): a share of requests answered with an error status, a
 * share of answers cut in the middle of their body (the connection is destroyed), bodies sent
 * slowly, and upload bodies cut on their way to the registry.
 */
export interface ChaosOptions {
  seed?: number;
  /** Share of matching requests answered with one of `statuses` (never reaching the registry). */
  failRate?: number;
  statuses?: number[];
  retryAfter?: string;
  /** Share of answers with a body that are cut after a random part of it. */
  cutRate?: number;
  /** Cut the connection every time this many more answer bytes went to the client (a flaky WAN). */
  cutEveryBytes?: number;
  /** Share of upload bodies (PATCH/PUT to blobs/uploads) cut after a random part reached the registry. */
  cutUploadRate?: number;
  /**
   * The first this many answers with a body, and upload bodies, are cut whatever the rates say: a
   * test that must meet a cut does not depend on how many requests the rates happen to reach.
   */
  cutFirst?: { answers?: number; uploads?: number };
  /** Answers' bodies are sent at this rate (bytes per second). */
  slowBytesPerSecond?: number;
  /** Only these requests are subject to chaos (default: all but `GET /v2/`). */
  match?: (method: string, url: string) => boolean;
}

export interface FaultProxy {
  host: string;
  port: number;
  requests: ProxiedRequest[];
  /** Request body bytes the registry received through the proxy (upload bodies included in part when cut). */
  bytesToRegistry: number;
  /** Response body bytes the client received through the proxy. */
  bytesToClient: number;
  /** Faults injected by chaos, by kind. */
  injected: { failed: number; cut: number; cutUploads: number };
  /** Random faults from now on (see ChaosOptions); `chaos(null)` stops them. */
  chaos(options: ChaosOptions | null): void;
  /** Connections clients opened to the proxy. */
  connections: number;
  failNext(count: number, status: number, options?: FailOptions): void;
  /**
   * The next N manifest GETs answer 200 with a body that is not JSON, without the digest header,
   * or with the registry's digest header when `keepDigest` (a body that does not match it).
   */
  garbageManifests(count: number, options?: { keepDigest?: boolean }): void;
  /**
   * Tag lists paginated as the OCI spec describes (lexical order, `n`, `last`), as distribution 3
   * and Harbor do; distribution 2.8 ignores `n`. 'link' sends `Link: rel="next"`, 'no-link' leaves
   * the client to ask with `last`.
   */
  paginateTags(mode: 'link' | 'no-link' | 'off'): void;
  /** Added to every answer from now on. */
  addHeaders(headers: Record<string, string>): void;
  stop(): Promise<void>;
}

interface Fault {
  remaining: number;
  status: number;
  options: FailOptions;
}

export async function startFaultProxy(upstreamPort: number): Promise<FaultProxy> {
  const started = Date.now();
  const faults: Fault[] = [];
  let garbage = 0;
  let keepDigest = false;
  let extraHeaders: Record<string, string> = {};
  let pagination: 'link' | 'no-link' | 'off' = 'off';
  let chaos: Chaos | null = null;
  /** Answer bytes sent since the last cut, for `cutEveryBytes`. */
  let sinceCut = 0;
  const requests: ProxiedRequest[] = [];
  const agent = new Agent({ keepAlive: true });
  const sockets = new Set<Socket>();

  const record = (req: IncomingMessage, status: number, injected: boolean) =>
    requests.push({
      method: req.method ?? '',
      url: req.url ?? '',
      status,
      injected,
      at: Date.now() - started,
    });

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const chaotic = chaos && (chaos.match ? chaos.match(method, url) : url !== '/v2/') ? chaos : null;
    if (chaotic && chaotic.random() < (chaotic.failRate ?? 0)) {
      const statuses = chaotic.statuses ?? [503];
      const status = statuses[Math.floor(chaotic.random() * statuses.length)]!;
      proxy.injected.failed++;
      req.resume();
      const body = 'injected fault\n';
      res.writeHead(status, {
        'content-type': 'text/plain',
        'content-length': Buffer.byteLength(body),
        ...(chaotic.retryAfter !== undefined ? { 'retry-after': chaotic.retryAfter } : {}),
        ...extraHeaders,
      });
      res.end(method === 'HEAD' ? undefined : body);
      record(req, status, true);
      return;
    }
    const fault = faults.find((f) => f.remaining > 0 && (f.options.match?.(method, url) ?? true));
    if (fault) {
      fault.remaining--;
      // The request body (an upload chunk) is drained, as a registry would before answering.
      req.resume();
      if (fault.options.hang) {
        record(req, 0, true);
        return;
      }
      // Plain text, as a proxy or load balancer in front of a registry answers.
      const body = fault.options.body ?? 'injected fault\n';
      res.writeHead(fault.status, {
        'content-type': fault.options.body ? 'application/json' : 'text/plain',
        'content-length': Buffer.byteLength(body),
        ...(fault.options.retryAfter ? { 'retry-after': fault.options.retryAfter } : {}),
        ...fault.options.headers,
        ...extraHeaders,
      });
      res.end(method === 'HEAD' ? undefined : body);
      record(req, fault.status, true);
      return;
    }
    const tagList = /^(\/v2\/.+\/tags\/list)(?:\?(.*))?$/.exec(url);
    if (pagination !== 'off' && method === 'GET' && tagList) {
      paginate(req, res, tagList[1] ?? '', new URLSearchParams(tagList[2] ?? ''));
      return;
    }
    const corrupt = garbage > 0 && method === 'GET' && /\/manifests\//.test(url);
    if (corrupt) garbage--;
    const upstream = request(
      { host: '127.0.0.1', port: upstreamPort, method, path: url, headers: req.headers, agent },
      (up) => {
        const headers = { ...up.headers, ...extraHeaders };
        if (corrupt && up.statusCode === 200) {
          up.resume();
          const body = '{"schemaVersion": 2, "config": {not json';
          if (!keepDigest) delete headers['docker-content-digest'];
          res.writeHead(200, { ...headers, 'content-length': Buffer.byteLength(body) });
          res.end(body);
          record(req, 200, true);
          return;
        }
        res.writeHead(up.statusCode ?? 502, headers);
        const length = Number(up.headers['content-length'] ?? 0);
        let cutAt =
          chaotic &&
          method !== 'HEAD' &&
          length > 1 &&
          (forcedCut(chaotic, 'answers') || chaotic.random() < (chaotic.cutRate ?? 0))
            ? Math.floor(chaotic.random() * (length - 1)) + 1
            : undefined;
        const every = chaotic?.cutEveryBytes;
        if (every && method !== 'HEAD' && length > 1) {
          // The link breaks once `every` bytes went over since it last broke, wherever that falls.
          if (sinceCut + length > every) {
            const at = Math.max(1, every - sinceCut);
            cutAt = cutAt === undefined ? at : Math.min(cutAt, at);
            sinceCut = 0;
          } else sinceCut += length;
        }
        if (cutAt !== undefined) proxy.injected.cut++;
        forwardBody(up, res, {
          ...(cutAt !== undefined ? { cutAt } : {}),
          ...(chaotic?.slowBytesPerSecond ? { rate: chaotic.slowBytesPerSecond } : {}),
        });
        record(req, up.statusCode ?? 502, cutAt !== undefined);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.destroy();
    });
    const upload = /\/blobs\/uploads\//.test(url) && (method === 'PATCH' || method === 'PUT');
    const requestLength = Number(req.headers['content-length'] ?? 0);
    const cutUploadAt =
      chaotic &&
      upload &&
      requestLength > 1 &&
      (forcedCut(chaotic, 'uploads') || chaotic.random() < (chaotic.cutUploadRate ?? 0))
        ? Math.floor(chaotic.random() * (requestLength - 1)) + 1
        : undefined;
    if (cutUploadAt !== undefined) proxy.injected.cutUploads++;
    let sent = 0;
    req.on('data', (chunk: Buffer) => {
      if (cutUploadAt !== undefined && sent + chunk.length >= cutUploadAt) {
        const part = chunk.subarray(0, cutUploadAt - sent);
        proxy.bytesToRegistry += part.length;
        upstream.write(part);
        sent = cutUploadAt;
        // The registry got part of the body, then the connection broke both ways.
        setTimeout(() => {
          upstream.destroy();
          req.socket.destroy();
        }, 20);
        req.pause();
        return;
      }
      sent += chunk.length;
      proxy.bytesToRegistry += chunk.length;
      upstream.write(chunk);
    });
    req.on('end', () => {
      if (cutUploadAt === undefined) upstream.end();
    });
  };

  /** Copies an answer's body, slowly and/or cut after `cutAt` bytes (then the connection dies). */
  const forwardBody = (up: IncomingMessage, res: ServerResponse, how: { cutAt?: number; rate?: number }) => {
    let sent = 0;
    const started = Date.now();
    up.on('data', (chunk: Buffer) => {
      let piece = chunk;
      if (how.cutAt !== undefined && sent + piece.length >= how.cutAt) {
        piece = piece.subarray(0, how.cutAt - sent);
        res.write(piece);
        proxy.bytesToClient += piece.length;
        sent += piece.length;
        up.destroy();
        setTimeout(() => res.socket?.destroy(), 10);
        return;
      }
      sent += piece.length;
      proxy.bytesToClient += piece.length;
      const ok = res.write(piece);
      if (how.rate) {
        // Hold the registry's stream back until the rate allows the next bytes.
        const due = started + (sent / how.rate) * 1000;
        const wait = due - Date.now();
        if (wait > 0) {
          up.pause();
          setTimeout(() => up.resume(), wait);
          return;
        }
      }
      if (!ok) {
        up.pause();
        res.once('drain', () => up.resume());
      }
    });
    up.on('end', () => {
      if (how.cutAt === undefined || sent < how.cutAt) res.end();
    });
  };

  const paginate = (req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams) => {
    const upstream = request(
      { host: '127.0.0.1', port: upstreamPort, method: 'GET', path, headers: req.headers, agent },
      (up) => {
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => {
          if (up.statusCode !== 200) {
            res.writeHead(up.statusCode ?? 502, up.headers);
            res.end(Buffer.concat(chunks));
            record(req, up.statusCode ?? 502, false);
            return;
          }
          const whole = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            name: string;
            tags: string[];
          };
          const last = query.get('last');
          const n = Number(query.get('n') ?? whole.tags.length);
          const after = [...whole.tags].sort().filter((t) => last === null || t > last);
          const page = after.slice(0, n);
          const headers: Record<string, string> = { 'content-type': 'application/json', ...extraHeaders };
          if (pagination === 'link' && after.length > n)
            headers.link = `<${path}?last=${encodeURIComponent(page[page.length - 1] ?? '')}&n=${n}>; rel="next"`;
          const body = JSON.stringify({ name: whole.name, tags: page });
          res.writeHead(200, { ...headers, 'content-length': Buffer.byteLength(body) });
          res.end(body);
          record(req, 200, false);
        });
      },
    );
    upstream.on('error', () => res.destroy());
    upstream.end();
  };

  const server = createServer(handle);
  const proxy: FaultProxy = {
    host: '',
    port: 0,
    requests,
    connections: 0,
    bytesToRegistry: 0,
    bytesToClient: 0,
    injected: { failed: 0, cut: 0, cutUploads: 0 },
    chaos(options) {
      chaos = options
        ? {
            ...options,
            random: seeded(options.seed ?? 1),
            forced: { answers: options.cutFirst?.answers ?? 0, uploads: options.cutFirst?.uploads ?? 0 },
          }
        : null;
    },
    failNext(count, status, options = {}) {
      faults.push({ remaining: count, status, options });
    },
    garbageManifests(count, options = {}) {
      garbage += count;
      keepDigest = options.keepDigest ?? false;
    },
    paginateTags(mode) {
      pagination = mode;
    },
    addHeaders(headers) {
      extraHeaders = { ...extraHeaders, ...headers };
    },
    async stop() {
      for (const s of sockets) s.destroy();
      server.close();
      agent.destroy();
    },
  };
  server.on('connection', (socket: Socket) => {
    proxy.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  proxy.port = typeof address === 'object' && address ? address.port : 0;
  proxy.host = `127.0.0.1:${proxy.port}`;
  return proxy;
}

/** Chaos as it runs: its options, its random sequence, and the cuts `cutFirst` still owes. */
type Chaos = ChaosOptions & { random: () => number; forced: { answers: number; uploads: number } };

/** Whether a cut of this kind is still owed by `cutFirst` (and takes it). */
function forcedCut(chaos: Chaos, kind: 'answers' | 'uploads'): boolean {
  if (chaos.forced[kind] <= 0) return false;
  chaos.forced[kind]--;
  return true;
}

/** mulberry32: a small seeded PRNG, so a chaotic run can be repeated exactly. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
