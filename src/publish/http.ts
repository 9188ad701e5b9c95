// The one HTTP client of publish/: JSON REST calls to GitHub or GitLab through undici, with bounded
// retries on server errors and one-line errors that carry the status and the API's own message.
// The token travels only in the headers given here and is registered as a secret by the caller.
import { setTimeout as sleep } from 'node:timers/promises';
import { ArborError } from '../errors.js';
import { request } from '../registry/transport/undici.js';

export interface ApiClientOptions {
  /** `GitHub` or `GitLab`, for messages. */
  service: string;
  /** API root, e.g. `https://api.github.com` or `https://ghe.example/api/v3`. */
  baseUrl: string;
  headers: Record<string, string>;
  /** Attempts on 5xx and dropped connections, the first included (default 4). */
  attempts?: number;
  /** First back-off delay; doubles each retry (default 500 ms). */
  retryBaseMs?: number;
}

export interface ApiResponse<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
}

/** An API answered with an error status. `status` lets callers react (422: body too long). */
export class ApiStatusError extends ArborError {
  constructor(
    readonly status: number,
    readonly apiMessage: string,
    summary: string,
  ) {
    super(summary);
    this.name = 'ApiStatusError';
  }
}

const RETRYABLE_CODES = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE']);

export class ApiClient {
  private readonly base: URL;

  constructor(private readonly options: ApiClientOptions) {
    this.base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
  }

  /** `path` is relative to the API root (`/repos/…`), or an absolute URL from a `Link` header. */
  url(path: string, query?: Record<string, string | number>): URL {
    const url = /^https?:\/\//.test(path) ? new URL(path) : new URL(path.replace(/^\//, ''), this.base);
    // Pagination links come from the server; never send the token to another origin.
    if (url.origin !== this.base.origin) {
      throw new ArborError(`${this.options.service} API: refusing to follow a link to ${url.origin}`);
    }
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, String(v));
    return url;
  }

  async send<T = unknown>(
    method: string,
    path: string,
    options: { query?: Record<string, string | number>; body?: unknown } = {},
  ): Promise<ApiResponse<T>> {
    const url = this.url(path, options.query);
    const attempts = this.options.attempts ?? 4;
    const baseMs = this.options.retryBaseMs ?? 500;
    const what = `${this.options.service} API: ${method} ${url.pathname}`;
    for (let attempt = 1; ; attempt++) {
      let response: ApiResponse;
      try {
        response = await this.once(method, url, options.body);
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (attempt < attempts && code && RETRYABLE_CODES.has(code)) {
          await sleep(baseMs * 2 ** (attempt - 1));
          continue;
        }
        throw new ArborError(`${what}: ${(e as Error).message}`, { cause: e });
      }
      if (response.status >= 500 && attempt < attempts) {
        await sleep(retryDelay(response, baseMs * 2 ** (attempt - 1)));
        continue;
      }
      if (response.status >= 400) {
        const message = errorMessage(response.body);
        const retried = attempt > 1 ? ` (after ${attempt} attempts)` : '';
        throw new ApiStatusError(
          response.status,
          message,
          `${what} → ${response.status}${message ? ` ${message}` : ''}${retried}`,
        );
      }
      return response as ApiResponse<T>;
    }
  }

  private async once(method: string, url: URL, body: unknown): Promise<ApiResponse> {
    const headers: Record<string, string> = { ...this.options.headers };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await request(url, {
      method: method as 'GET',
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.body.text();
    let parsed: unknown = text;
    if (text && String(res.headers['content-type'] ?? '').includes('json')) {
      try {
        parsed = JSON.parse(text);
      } catch {
        // Keep the text: the error message shows what the server said.
      }
    }
    return { status: res.statusCode, headers: res.headers, body: parsed };
  }
}

/** `Retry-After` in seconds when the server sends a sane one, else the back-off delay. */
function retryDelay(response: ApiResponse, fallbackMs: number): number {
  const header = response.headers['retry-after'];
  const seconds = Number(Array.isArray(header) ? header[0] : header);
  return Number.isFinite(seconds) && seconds >= 0 && seconds <= 60 ? seconds * 1000 : fallbackMs;
}

/**
 * The API's own words: GitHub `{message, errors: [{message}]}`, GitLab `{message}` (a string or
 * a map of field → messages) or `{error}`. One line, bounded.
 */
export function errorMessage(body: unknown): string {
  if (typeof body === 'string') return oneLine(body);
  if (!body || typeof body !== 'object') return '';
  const b = body as { message?: unknown; error?: unknown; errors?: unknown };
  const parts: string[] = [];
  if (typeof b.message === 'string') parts.push(b.message);
  else if (b.message && typeof b.message === 'object') {
    for (const [field, msgs] of Object.entries(b.message)) {
      parts.push(`${field} ${Array.isArray(msgs) ? msgs.join(', ') : String(msgs)}`);
    }
  }
  if (typeof b.error === 'string') parts.push(b.error);
  if (Array.isArray(b.errors)) {
    for (const e of b.errors) {
      if (typeof e === 'string') parts.push(e);
      else if (e && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') {
        parts.push((e as { message: string }).message);
      }
    }
  }
  return oneLine(parts.join(': '));
}

function oneLine(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

/** The `rel="next"` target of an RFC 8288 `Link` header, or null. */
export function nextLink(header: string | string[] | undefined): string | null {
  const value = Array.isArray(header) ? header.join(',') : header;
  if (!value) return null;
  for (const part of value.split(/,(?=\s*<)/)) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (match && /;\s*rel="?(?:[^"]*\s)?next(?:\s[^"]*)?"?\s*(?:;|$)/i.test(match[2]!)) return match[1]!;
  }
  return null;
}
