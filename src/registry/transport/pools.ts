// The bottom of the transport: one keep-alive undici Pool per origin (the registry, and any
// storage origin a blob redirect points to), with a connection cap and per-request timeouts.
// Everything above this file sees only `Send`.

import { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { RegistryError } from '../errors.js';
import { describeConnectionError } from './connection-errors.js';
import { describeRequest, type RegistryRequest, type RegistryResponse, type Send } from './types.js';
import { type DispatchHandler, Pool, parseHeaders } from './undici.js';

export interface PoolOptions {
  /** Connections per origin. */
  maxConnections: number;
  /** HEADs in flight per connection (undici pipelines only HEAD: other methods are `blocking`). */
  headPipelining: number;
  /** Headers timeout and body (idle) timeout of every request. */
  timeoutMs: number;
  /** PEM text of an extra CA trusted besides the system roots. */
  extraCa?: string;
}

export interface TransportStats {
  /** HTTP requests sent (every attempt counts). */
  requests: number;
  /** TCP (or TLS) connections opened. */
  connections: number;
}

export class Pools {
  readonly stats: TransportStats = { requests: 0, connections: 0 };
  private readonly pools = new Map<string, Pool>();
  private destroyed = false;

  constructor(private readonly options: PoolOptions) {}

  get(origin: string): Pool {
    if (this.destroyed) throw new Error(`registry client for ${origin} was abandoned`);
    let pool = this.pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, {
        connections: this.options.maxConnections,
        pipelining: this.options.headPipelining,
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
        // TLS is verified always; an extra CA adds to the system roots instead of replacing them.
        connect: this.options.extraCa
          ? { ca: [...rootCertificates, this.options.extraCa], rejectUnauthorized: true }
          : { rejectUnauthorized: true },
      });
      pool.on('connect', () => {
        this.stats.connections++;
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.close()));
  }

  /** Aborts whatever is in flight (a client nobody waits for, e.g. one talking to a stale host). */
  async destroy(): Promise<void> {
    this.destroyed = true;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy()));
  }
}

/**
 * Sends one request as is: no auth, no retry. Connection failures, and bodies cut while a
 * buffered answer is read, become RegistryErrors naming the request (method, host, path).
 */
export function poolSend(pools: Pools, baseUrl: URL): Send {
  return async (request: RegistryRequest): Promise<RegistryResponse> => {
    const url = new URL(request.url, baseUrl);
    const pool = pools.get(url.origin);
    pools.stats.requests++;
    let response: RegistryResponse;
    try {
      if (request.method === 'HEAD') {
        const answer = await head(pool, url.pathname + url.search, request.headers ?? {});
        return { ...answer, body: NO_BODY, url };
      }
      const answer = await pool.request({
        method: request.method,
        path: url.pathname + url.search,
        headers: request.headers ?? {},
        body: request.body ?? null,
      });
      response = { status: answer.statusCode, headers: answer.headers, body: answer.body, url };
    } catch (e) {
      throw connectionError(request, url, e);
    }
    if (request.buffer === undefined) return response;
    let bytes: Buffer;
    try {
      bytes = await readLimited(response.body, request.buffer, request.reference);
    } catch (e) {
      if (e instanceof RegistryError) throw e;
      throw connectionError(request, url, e);
    }
    return { ...response, body: bufferedBody(bytes), bytes };
  };
}

/**
 * A HEAD answer's body: nothing, as every reader of a body sees it (dump, text, json, iteration).
 * Shared and stateless: a stream per HEAD would cost more than the rest of handling the answer.
 */
const NO_BODY = {
  dump: async () => undefined,
  text: async () => '',
  json: async () => {
    throw new SyntaxError('a HEAD answer has no body');
  },
  destroy: () => undefined,
  async *[Symbol.asyncIterator]() {},
} as unknown as RegistryResponse['body'];

/**
 * A HEAD on undici's dispatcher with a handler that keeps the status and headers: no body stream
 * is made for an answer that has none. Planning sends hundreds of HEADs in a fresh process, where
 * `request()`'s stream and async-context machinery per answer is most of the client's CPU.
 */
function head(
  pool: Pool,
  path: string,
  headers: Record<string, string>,
): Promise<Pick<RegistryResponse, 'status' | 'headers'>> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let answered: RegistryResponse['headers'] = {};
    pool.dispatch(
      // undici closes the connection after every HEAD by default (for servers that wrongly send a
      // body); registries answer HEAD correctly, and a planner sends one HEAD per image, so the
      // connection is kept: 187 HEADs over 8 connections instead of 187 connections.
      { method: 'HEAD', path, headers, reset: false },
      {
        onConnect: () => undefined,
        onHeaders: (statusCode: number, rawHeaders: Buffer[]) => {
          status = statusCode;
          answered = parseHeaders(rawHeaders) as RegistryResponse['headers'];
          return true;
        },
        onData: () => true,
        onComplete: () => resolve({ status, headers: answered }),
        onError: reject,
      } as unknown as DispatchHandler,
    );
  });
}

function connectionError(request: RegistryRequest, url: URL, e: unknown): RegistryError {
  const problem = describeConnectionError(e, url.host);
  return new RegistryError(request.reference, `${problem.reason} during ${describeRequest(request, url)}`, {
    code: problem.code,
    restartable: problem.transient,
    cause: e,
    summary: problem.reason,
  });
}

/** The whole body, refusing one larger than `limit` (an error that no retry will heal). */
async function readLimited(
  body: RegistryResponse['body'],
  limit: number,
  reference: string,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      body.destroy();
      throw new RegistryError(reference, `response larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** A body already read: the stream interface callers use (`dump`, `text`, iteration) over the bytes. */
function bufferedBody(bytes: Buffer): RegistryResponse['body'] {
  const stream = Readable.from(bytes.length > 0 ? [bytes] : []) as Readable & Record<string, unknown>;
  stream.dump = async () => {
    stream.destroy();
  };
  stream.text = async () => bytes.toString('utf8');
  stream.json = async () => JSON.parse(bytes.toString('utf8'));
  return stream as unknown as RegistryResponse['body'];
}
