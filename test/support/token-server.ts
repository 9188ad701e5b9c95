// A real token server on 127.0.0.1 for distribution's token auth (docs/spec/auth/token.md,
// jwt.md, oauth.md). It checks Basic credentials (GET) or a refresh token / password (OAuth2
// POST), grants each requested repository scope as far as the user's rights allow, and issues
// ES256 JWTs whose `x5c` header carries the signing certificate: the registry verifies that
// chain against `auth.token.rootcertbundle` (the test CA). Everything it saw is recorded, so tests
// can assert the scopes asked for and count the tokens issued.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { importPKCS8, SignJWT } from 'jose';
import type { IssuedCertificate, TestCa } from './tls.js';

export type Rights = (repository: string) => string[];

export interface TokenServerOptions {
  /** Signing certificate (issued by the CA given to the registry as rootcertbundle). */
  signing: IssuedCertificate;
  /** username → password and what the user may do per repository. */
  /** `catalog`: the user may list the registry's repositories (`registry:catalog:*`), as admins may. */
  users: Record<string, { password: string; rights: Rights; catalog?: boolean }>;
  /** What an anonymous client may do; without it anonymous requests get a 401 (a private registry). */
  anonymous?: Rights;
  service?: string;
  issuer?: string;
  /** `expires_in` told to the client, seconds. */
  expiresIn?: number;
  /**
   * Seconds until the registry refuses the token (default expiresIn), independent of what the
   * client is told: a token the client still trusts but the registry rejects is what a revoked
   * token looks like.
   */
  jwtLifetime?: number;
  /** Serve https with this certificate instead of http. */
  tls?: IssuedCertificate;
}

export interface TokenRequestRecord {
  method: string;
  /** Scopes as sent, one per entry (space-separated lists split). */
  scopes: string[];
  service?: string;
  /** Authenticated user, null for anonymous, undefined when authentication failed. */
  user: string | null | undefined;
  grantType?: string;
  status: number;
}

export interface IssuedToken {
  user: string | null;
  token: string;
  access: { type: string; name: string; actions: string[] }[];
  issuedAt: number;
}

export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  requests: TokenRequestRecord[];
  issued: IssuedToken[];
  /** The `auth:` YAML section for startRegistry({ extraConfig }). */
  registryAuthConfig(ca: TestCa): string;
  /** Change the lifetimes of tokens issued from now on. */
  setLifetime(expiresIn: number, jwtLifetime?: number): void;
  /** A refresh token for `user`, as `docker login` would store it (an identity token). */
  issueRefreshToken(user: string): string;
  /** The next `count` token requests are answered `status` (a server restarting, or overloaded). */
  failNext(count: number, status: number, retryAfter?: string): void;
  close(): Promise<void>;
}

/**
 * distribution accepts a token up to 60 s past its `exp` (clock-skew leeway, token.go), so exp
 * is written that much earlier to make the registry refuse it when `jwtLifetime` runs out.
 */
const REGISTRY_LEEWAY_S = 60;

export const everything: Rights = () => ['pull', 'push', 'delete'];
export const pullOnly: Rights = () => ['pull'];

export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const service = options.service ?? 'arbor-test-registry';
  const issuer = options.issuer ?? 'arbor-test-token-server';
  const key = await importPKCS8(options.signing.key, 'ES256');
  const x5c = [pemToBase64Der(options.signing.cert)];
  let expiresIn = options.expiresIn ?? 60;
  let jwtLifetime = options.jwtLifetime ?? expiresIn;
  const requests: TokenRequestRecord[] = [];
  const issued: IssuedToken[] = [];
  const refreshTokens = new Map<string, string>();
  const failing: { count: number; status: number; retryAfter?: string } = { count: 0, status: 503 };

  async function issue(user: string | null, scopes: string[]): Promise<IssuedToken> {
    const rights = user === null ? (options.anonymous ?? (() => [])) : options.users[user]!.rights;
    const access = scopes.flatMap((s) => {
      const first = s.indexOf(':');
      const last = s.lastIndexOf(':');
      if (first <= 0 || last === first) return [];
      const type = s.slice(0, first);
      const name = s.slice(first + 1, last);
      const catalog = user !== null && options.users[user]!.catalog === true;
      const allowed =
        type === 'repository'
          ? rights(name)
          : type === 'registry' && name === 'catalog' && catalog
            ? ['*']
            : [];
      const actions = s
        .slice(last + 1)
        .split(',')
        .filter((a) => allowed.includes(a));
      return actions.length > 0 ? [{ type, name, actions }] : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ access })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', x5c })
      .setIssuer(issuer)
      .setSubject(user ?? '')
      .setAudience(service)
      .setIssuedAt(now)
      .setNotBefore(now - REGISTRY_LEEWAY_S)
      // Whole seconds, rounded up: the registry accepts the token for at least jwtLifetime.
      .setExpirationTime(Math.ceil(Date.now() / 1000 + jwtLifetime) - REGISTRY_LEEWAY_S)
      .setJti(randomUUID())
      .sign(key);
    const record = { user, token, access, issuedAt: Date.now() };
    issued.push(record);
    return record;
  }

  function basicUser(req: IncomingMessage): string | null | undefined {
    const header = req.headers.authorization;
    if (!header) return null;
    const match = /^Basic\s+(.+)$/i.exec(header);
    if (!match) return undefined;
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return checkPassword(decoded.slice(0, colon), decoded.slice(colon + 1));
  }

  function checkPassword(user: string, password: string): string | undefined {
    return options.users[user]?.password === password ? user : undefined;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const record: TokenRequestRecord = { method: req.method ?? '', scopes: [], user: undefined, status: 0 };
    requests.push(record);
    const reply = (status: number, body: unknown) => {
      record.status = status;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname !== '/token')
      return reply(404, { errors: [{ code: 'NOT_FOUND', message: 'no such path' }] });
    if (failing.count > 0) {
      failing.count--;
      record.status = failing.status;
      res.writeHead(failing.status, {
        'content-type': 'text/plain',
        ...(failing.retryAfter ? { 'retry-after': failing.retryAfter } : {}),
      });
      res.end('injected\n');
      return;
    }

    if (req.method === 'GET') {
      record.scopes = url.searchParams.getAll('scope').flatMap(splitScopes);
      record.service = url.searchParams.get('service') ?? undefined;
      record.user = basicUser(req);
      if (record.user === undefined || (record.user === null && !options.anonymous)) {
        return reply(401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] });
      }
      const token = await issue(record.user, record.scopes);
      const body: Record<string, unknown> = { token: token.token, expires_in: expiresIn };
      body.issued_at = new Date().toISOString();
      if (url.searchParams.get('offline_token') === 'true' && record.user) {
        body.refresh_token = newRefreshToken(record.user);
      }
      return reply(200, body);
    }

    if (req.method === 'POST') {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      record.grantType = form.get('grant_type') ?? undefined;
      record.scopes = splitScopes(form.get('scope') ?? '');
      record.service = form.get('service') ?? undefined;
      if (record.grantType === 'refresh_token') {
        record.user = refreshTokens.get(form.get('refresh_token') ?? '');
      } else if (record.grantType === 'password') {
        record.user = checkPassword(form.get('username') ?? '', form.get('password') ?? '');
      }
      if (!record.user)
        return reply(401, { error: 'invalid_grant', error_description: 'unknown refresh token' });
      const token = await issue(record.user, record.scopes);
      return reply(200, {
        access_token: token.token,
        expires_in: expiresIn,
        scope: record.scopes.join(' '),
        refresh_token:
          record.grantType === 'password' ? newRefreshToken(record.user) : form.get('refresh_token'),
      });
    }
    return reply(405, { errors: [{ code: 'UNSUPPORTED', message: 'method not allowed' }] });
  }

  function newRefreshToken(user: string): string {
    const token = `rt-${randomUUID()}`;
    refreshTokens.set(token, user);
    return token;
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((e) => {
      res.writeHead(500);
      res.end(String(e));
    });
  };
  const server = options.tls
    ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, listener)
    : createHttpServer(listener);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const realm = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}/token`;

  return {
    realm,
    service,
    issuer,
    requests,
    issued,
    registryAuthConfig: (ca) =>
      `auth:\n  token:\n    realm: ${realm}\n    service: ${service}\n    issuer: ${issuer}\n    rootcertbundle: ${ca.certFile}\n`,
    setLifetime(newExpiresIn, newJwtLifetime) {
      expiresIn = newExpiresIn;
      jwtLifetime = newJwtLifetime ?? newExpiresIn;
    },
    issueRefreshToken: newRefreshToken,
    failNext(count, status, retryAfter) {
      failing.count = count;
      failing.status = status;
      if (retryAfter === undefined) delete failing.retryAfter;
      else failing.retryAfter = retryAfter;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

function splitScopes(value: string): string[] {
  return value.split(' ').filter((s) => s !== '');
}

function pemToBase64Der(pem: string): string {
  return pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}
