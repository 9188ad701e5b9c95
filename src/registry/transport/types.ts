// One request/response shape that every transport layer (auth, retry, logging, rate limit, user
// agent) wraps around: a layer takes the next `Send` and returns a `Send`.
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Scope } from '../auth/types.js';

export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export interface RegistryRequest {
  method: HttpMethod;
  /** A path on the registry (`/v2/…`), or an absolute URL (upload locations, blob redirects). */
  url: string;
  headers?: Record<string, string>;
  /** A Buffer can be sent again (retry, auth); a stream only once. */
  body?: Buffer | Readable;
  /** What the request needs permission for; null for the `/v2/` ping. */
  scope: Scope | null;
  /** The reference errors name: `127.0.0.1:5000/ns/x:tag`. */
  reference: string;
  /**
   * Sending it twice does no harm (GET, HEAD, PUT manifest, DELETE). Only these are retried
   * by the transport; an upload session is restarted from its beginning by its owner instead.
   */
  idempotent: boolean;
  /** Never attach registry credentials (a redirect to another origin, e.g. blob storage). */
  anonymous?: boolean;
  /**
   * Read the whole body (at most this many bytes) before the response is returned, so a body cut
   * mid-read is a failed request that the retry layer sends again, not an error in the caller.
   * For small answers only: manifests, configs, tag lists.
   */
  buffer?: number;
}

export interface RegistryResponse {
  status: number;
  headers: Dispatcher.ResponseData['headers'];
  body: Dispatcher.ResponseData['body'];
  /** The absolute URL that answered (to resolve relative `Location` and `Link` headers). */
  url: URL;
  /** The whole body, when the request asked for it to be buffered (`buffer`). */
  bytes?: Buffer;
}

export type Send = (request: RegistryRequest) => Promise<RegistryResponse>;

/** A transport concern wrapped around the next one. */
export type Layer = (next: Send) => Send;

export function header(response: RegistryResponse, name: string): string | undefined {
  const value = response.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** `GET 127.0.0.1:5000/v2/ns/x/manifests/v1`: the request a network error names. */
export function describeRequest(request: RegistryRequest, url: URL): string {
  return `${request.method} ${url.host}${url.pathname}`;
}

export function isReplayable(request: RegistryRequest): boolean {
  return request.body === undefined || Buffer.isBuffer(request.body);
}
