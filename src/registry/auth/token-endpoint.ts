// The token server side of distribution's token auth (docs/spec/auth/token.md, oauth.md):
// `GET realm?service=…&scope=…&scope=…` with Basic credentials (or anonymous), or with an
// identity token the OAuth2 `POST realm` with grant_type=refresh_token. The answer carries
// `token` or `access_token`, `expires_in` (60 s when absent) and maybe a new `refresh_token`.

import { ArborError } from '../../errors.js';
import { redact, registerSecret } from '../../secrets.js';
import {
  backoffDelay,
  DEFAULT_BACKOFF,
  isRetryableStatus,
  parseRetryAfter,
  sleep,
} from '../transport/backoff.js';
import { type Dispatcher, request } from '../transport/undici.js';
import { describeTlsError } from './tls.js';
import type { Credentials } from './types.js';

/** The spec's default lifetime when a token server does not say. */
export const DEFAULT_EXPIRES_IN_S = 60;
const TIMEOUT_MS = 30_000;
/** Sent as OAuth2 client_id, which the spec requires to identify the client. */
const CLIENT_ID = 'arbor';

export interface TokenRequest {
  /** host[:port] of the registry the token is for (named in every message). */
  registry: string;
  realm: string;
  service?: string;
  scopes: string[];
  credentials?: Credentials;
  /** Where the credentials came from, for "wrong credentials" messages. */
  credentialsSource?: string;
  /** The registry was marked insecure: the user accepts plain HTTP for it. */
  insecure?: boolean;
  dispatcher: Dispatcher;
  debug?: (line: string) => void;
}

export interface TokenGrant {
  token: string;
  /** Seconds, as the server said (or the default). */
  expiresIn: number;
  /** A new refresh token for the OAuth2 flow, when the server rotated it. */
  refreshToken?: string;
}

export async function fetchToken(req: TokenRequest): Promise<TokenGrant> {
  const realm = checkRealm(req);
  const { credentials } = req;
  if (credentials?.identityToken) {
    const answer = await sendRetrying(req, realm, 'POST');
    // Not every token server speaks OAuth2 (the spec says: fall back to GET on 404).
    if (answer.status !== 404 && answer.status !== 405) return readGrant(req, answer, true);
    if (!credentials.password) return readGrant(req, answer, true);
  }
  return readGrant(req, await sendRetrying(req, realm, 'GET'), Boolean(basicOf(credentials)));
}

function checkRealm(req: TokenRequest): URL {
  let url: URL;
  try {
    url = new URL(req.realm);
  } catch {
    throw new ArborError(`registry ${req.registry} names a token realm that is not a URL: "${req.realm}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ArborError(`registry ${req.registry} names a token realm with scheme ${url.protocol}`);
  }
  const hasSecret = Boolean(req.credentials?.identityToken || basicOf(req.credentials));
  // Plain HTTP carries credentials only on loopback, or to the very host the user marked insecure.
  const insecureHost = req.insecure && url.hostname === new URL(`http://${req.registry}`).hostname;
  if (url.protocol === 'http:' && hasSecret && !isLoopback(url.hostname) && !insecureHost) {
    throw new ArborError(
      `refusing to send credentials for ${req.registry} to token realm ${url.origin} over plain HTTP ` +
        '(only loopback, or the host of a registry marked insecure, may receive them unencrypted)',
    );
  }
  return url;
}

export function isLoopback(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

function basicOf(credentials: Credentials | undefined): string | undefined {
  if (!credentials || credentials.password === undefined || credentials.password === '') return undefined;
  const encoded = Buffer.from(`${credentials.username ?? ''}:${credentials.password}`).toString('base64');
  registerSecret(encoded);
  return encoded;
}

interface Answer {
  status: number;
  text: string;
  retryAfter?: string;
}

/** Tries of a token request the server answers 429 or 5xx, or that cannot connect for a moment. */
const TOKEN_TRIES = 6;
/** A Retry-After longer than this is not waited for: the error says what the server answered. */
const TOKEN_MAX_RETRY_AFTER_MS = 60_000;

/**
 * A token server is a service like the registry: a 503 while it restarts, or a 429 under load,
 * is waited out with the same backoff (and its Retry-After) rather than failing the whole run
 * (a sync renews tokens in the middle of its copies).
 */
async function sendRetrying(req: TokenRequest, realm: URL, method: 'GET' | 'POST'): Promise<Answer> {
  for (let attempt = 1; ; attempt++) {
    let answer: Answer;
    try {
      answer = await send(req, realm, method);
    } catch (e) {
      const code = ((e as ArborError).cause as { code?: string } | undefined)?.code;
      if (attempt >= TOKEN_TRIES || !code || !TRANSIENT_CODES.has(code)) throw e;
      await sleep(backoffDelay(attempt - 1, DEFAULT_BACKOFF));
      continue;
    }
    if (attempt >= TOKEN_TRIES || !isRetryableStatus(answer.status)) return answer;
    const wait = parseRetryAfter(answer.retryAfter) ?? backoffDelay(attempt - 1, DEFAULT_BACKOFF);
    if (wait > TOKEN_MAX_RETRY_AFTER_MS) return answer;
    req.debug?.(`auth: token server answered ${answer.status}; asking again in ${Math.round(wait)} ms`);
    await sleep(wait);
  }
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'ETIMEDOUT',
]);

async function send(req: TokenRequest, realm: URL, method: 'GET' | 'POST'): Promise<Answer> {
  const url = new URL(realm);
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'arbor' };
  let body: string | undefined;
  if (method === 'POST') {
    const form = new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: req.credentials?.identityToken ?? '',
      client_id: CLIENT_ID,
    });
    if (req.service) form.set('service', req.service);
    if (req.scopes.length > 0) form.set('scope', req.scopes.join(' '));
    body = form.toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else {
    if (req.service) url.searchParams.append('service', req.service);
    for (const scope of req.scopes) url.searchParams.append('scope', scope);
    const basic = basicOf(req.credentials);
    if (basic) {
      headers.authorization = `Basic ${basic}`;
      if (req.credentials?.username) url.searchParams.append('account', req.credentials.username);
    }
  }
  req.debug?.(
    `auth: ${method} ${url.origin}${url.pathname} for ${req.registry} scope=[${req.scopes.join(' ')}]`,
  );
  try {
    const response = await request(url, {
      method,
      headers,
      body,
      dispatcher: req.dispatcher,
      headersTimeout: TIMEOUT_MS,
      bodyTimeout: TIMEOUT_MS,
    });
    const text = await response.body.text();
    req.debug?.(`auth: token server answered ${response.statusCode} for ${req.registry}`);
    const retryAfter = response.headers['retry-after'];
    return {
      status: response.statusCode,
      text,
      ...(typeof retryAfter === 'string' ? { retryAfter } : {}),
    };
  } catch (e) {
    const where = `token server ${url.origin} (for ${req.registry})`;
    const tls = describeTlsError(e, where);
    if (tls) throw new ArborError(tls, { cause: e });
    const code = (e as { code?: string }).code ?? (e as Error).message;
    throw new ArborError(`cannot reach ${where}: ${code}`, { cause: e });
  }
}

function readGrant(req: TokenRequest, answer: Answer, sentCredentials: boolean): TokenGrant {
  if (answer.status === 401 || answer.status === 403) {
    const from = req.credentialsSource ? ` (from ${req.credentialsSource})` : '';
    throw new ArborError(
      sentCredentials
        ? `unauthorized: wrong credentials for ${req.registry}${from}`
        : `unauthorized: ${req.registry} requires credentials and none were found (run docker login ${req.registry})`,
    );
  }
  if (answer.status !== 200) {
    throw new ArborError(
      `token server for ${req.registry} answered HTTP ${answer.status}${serverDetail(answer.text)}`,
    );
  }
  let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown; refresh_token?: unknown };
  try {
    parsed = JSON.parse(answer.text);
  } catch {
    throw new ArborError(`token server for ${req.registry} answered with something that is not JSON`);
  }
  const token = typeof parsed.token === 'string' && parsed.token ? parsed.token : parsed.access_token;
  if (typeof token !== 'string' || token === '') {
    throw new ArborError(`token server for ${req.registry} answered without a token`);
  }
  registerSecret(token);
  const grant: TokenGrant = {
    token,
    expiresIn:
      typeof parsed.expires_in === 'number' && parsed.expires_in > 0
        ? parsed.expires_in
        : DEFAULT_EXPIRES_IN_S,
  };
  if (typeof parsed.refresh_token === 'string' && parsed.refresh_token !== '') {
    registerSecret(parsed.refresh_token);
    grant.refreshToken = parsed.refresh_token;
  }
  return grant;
}

/** A short reason from the server's error body, when it gives one (passed through redaction). */
function serverDetail(text: string): string {
  try {
    const body = JSON.parse(text) as { errors?: { message?: unknown }[]; error_description?: unknown };
    const message = body.errors?.[0]?.message ?? body.error_description;
    if (typeof message === 'string' && message !== '') return `: ${redact(message).slice(0, 200)}`;
  } catch {
    // Not JSON: say nothing rather than echo an arbitrary page.
  }
  return '';
}
