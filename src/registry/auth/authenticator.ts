// The Authenticator the registry client consults (types.ts): it learns from 401 challenges
// which scheme a registry wants, finds credentials (options, then docker's config), and keeps
// Bearer tokens per scope, refreshing them before they expire and after a registry refuses one.
import type { Dispatcher } from 'undici';
import { ArborError } from '../../errors.js';
import { registerSecret } from '../../secrets.js';
import { type Challenge, challengeScopes, parseWwwAuthenticate } from './challenge.js';
import {
  type DockerConfig,
  type FoundCredentials,
  findCredentials,
  readDockerConfig,
  registryHost,
} from './docker-config.js';
import { covers, fromScope, mergeScopes, parseScope, type ResourceScope, scopeKey } from './scope.js';
import { createTlsAgent } from './tls.js';
import { type CachedToken, TokenCache } from './token-cache.js';
import { fetchToken } from './token-endpoint.js';
import type { Authenticator, Credentials, Scope } from './types.js';

export interface AuthenticatorOptions {
  /** Directory holding docker's config.json (default $DOCKER_CONFIG, else ~/.docker). */
  dockerConfigDir?: string;
  /** CA bundle (PEM) trusted, besides the system roots, for token realms over https. */
  caFile?: string;
  /** The registry speaks plain HTTP by the user's choice: its token realm may too. */
  insecure?: boolean;
  /** Credentials keyed by registry host[:port]; they win over docker's config. */
  credentials?: Record<string, Credentials>;
  /** Debug lines (never holding a secret); the caller prints them through redact(). */
  debug?: (line: string) => void;
  /** Clock in ms, for tests of token refresh. */
  now?: () => number;
  /** Dispatcher for token requests (default: an undici Agent trusting `caFile`). */
  dispatcher?: Dispatcher;
}

export interface ClosableAuthenticator extends Authenticator {
  /** Closes the connections to token servers (only those this authenticator opened). */
  close(): Promise<void>;
}

interface RegistryState {
  scheme?: 'basic' | 'bearer';
  realm?: string;
  service?: string;
  /** Scopes the registry asked for on requests without a repository (e.g. `registry:catalog:*`). */
  unscoped: ResourceScope[];
  /** An identity token the token server rotated (OAuth2 `refresh_token` in its answer). */
  refreshToken?: string;
}

export function createAuthenticator(options: AuthenticatorOptions = {}): ClosableAuthenticator {
  return new RegistryAuthenticator(options);
}

class RegistryAuthenticator implements ClosableAuthenticator {
  private readonly states = new Map<string, RegistryState>();
  private readonly tokens: TokenCache;
  private readonly found = new Map<string, Promise<FoundCredentials | undefined>>();
  private dockerConfig?: Promise<DockerConfig>;
  private ownDispatcher?: Dispatcher;

  constructor(private readonly options: AuthenticatorOptions) {
    this.tokens = new TokenCache(options.now);
    for (const c of Object.values(options.credentials ?? {})) {
      registerSecret(c.password);
      registerSecret(c.identityToken);
    }
  }

  async header(registry: string, scope: Scope | null): Promise<string | undefined> {
    const state = this.states.get(registry);
    if (state?.scheme === 'basic') return this.basicHeader(registry);
    if (state?.scheme !== 'bearer') return undefined;
    const wanted = scope ? [fromScope(scope)] : state.unscoped;
    const entry = await this.bearer(registry, state, wanted);
    entry.sentFirst = true;
    return `Bearer ${entry.token}`;
  }

  async challenge(
    registry: string,
    scope: Scope | null,
    wwwAuthenticate: string,
    rejected?: string | null,
  ): Promise<string | undefined> {
    const challenges = parseWwwAuthenticate(wwwAuthenticate);
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    if (bearer) return this.bearerChallenge(registry, scope, bearer, rejected);
    if (challenges.some((c) => c.scheme === 'basic')) return this.basicChallenge(registry, rejected);
    if (challenges.length === 0) return undefined;
    const schemes = challenges.map((c) => c.scheme).join(', ');
    throw new ArborError(
      `registry ${registry} asks for an authentication scheme arbor does not speak: ${schemes}`,
    );
  }

  async close(): Promise<void> {
    await this.ownDispatcher?.close();
  }

  private state(registry: string): RegistryState {
    let state = this.states.get(registry);
    if (!state) {
      state = { unscoped: [] };
      this.states.set(registry, state);
    }
    return state;
  }

  private async bearerChallenge(
    registry: string,
    scope: Scope | null,
    challenge: Challenge,
    rejected: string | null | undefined,
  ): Promise<string> {
    const state = this.state(registry);
    state.scheme = 'bearer';
    state.realm = challenge.params.realm;
    state.service = challenge.params.service;
    const asked = challengeScopes(challenge).flatMap((s) => parseScope(s) ?? []);
    // The caller's scope says what the whole operation needs (push implies pull); the registry's
    // says what this request needs (a mount also needs pull on the source repository).
    const wanted = mergeScopes([...(scope ? [fromScope(scope)] : []), ...asked]);
    if (!scope) state.unscoped = wanted;

    if (rejected === undefined) {
      this.tokens.dropSentCovering(registry, wanted);
    } else if (rejected?.startsWith('Bearer ')) {
      const refused = rejected.slice('Bearer '.length);
      const entry = this.tokens.byToken(registry, refused);
      if (entry && challenge.params.error === 'insufficient_scope' && covers(entry.scopes, wanted)) {
        this.tokens.drop(registry, refused);
        throw new ArborError(
          `denied: the token server for ${registry} did not grant ${scopeKey(wanted)} (insufficient_scope)`,
        );
      }
      if (entry) this.options.debug?.(`auth: ${registry} refused a cached token; fetching a new one`);
      this.tokens.drop(registry, refused);
      // It covered the request, so it expired early or was revoked: the other tokens held for
      // these scopes were fetched before this refusal too (a mount's, say), no fresher. The retry
      // gets one fetched now, not one of them.
      if (entry && covers(entry.scopes, wanted)) this.tokens.dropCovering(registry, wanted);
    }
    return `Bearer ${(await this.bearer(registry, state, wanted)).token}`;
  }

  /** A fresh token covering `wanted`: cached, being fetched, or fetched now. */
  private async bearer(
    registry: string,
    state: RegistryState,
    wanted: ResourceScope[],
  ): Promise<CachedToken> {
    const entry = await this.tokens.obtain(registry, wanted, async () => {
      const found = await this.credentials(registry);
      const credentials = found?.credentials;
      const withRefresh =
        state.refreshToken && credentials
          ? { ...credentials, identityToken: state.refreshToken }
          : credentials;
      const grant = await fetchToken({
        registry,
        realm: state.realm!,
        service: state.service,
        scopes: wanted.map((s) => `${s.type}:${s.name}:${s.actions.join(',')}`),
        credentials: withRefresh,
        credentialsSource: found?.source,
        insecure: this.options.insecure,
        dispatcher: this.dispatcher(),
        debug: this.options.debug,
      });
      if (grant.refreshToken && credentials?.identityToken) state.refreshToken = grant.refreshToken;
      this.options.debug?.(`auth: ${registry} token for [${scopeKey(wanted)}] valid ${grant.expiresIn} s`);
      return { token: grant.token, expiresInS: grant.expiresIn };
    });
    return entry;
  }

  private async basicChallenge(
    registry: string,
    rejected: string | null | undefined,
  ): Promise<string | undefined> {
    this.state(registry).scheme = 'basic';
    const header = await this.basicHeader(registry);
    if (header && rejected === header) {
      const found = await this.credentials(registry);
      throw new ArborError(`unauthorized: wrong credentials for ${registry} (from ${found?.source})`);
    }
    return header;
  }

  private async basicHeader(registry: string): Promise<string | undefined> {
    const credentials = (await this.credentials(registry))?.credentials;
    if (!credentials || credentials.password === undefined) return undefined;
    const encoded = Buffer.from(`${credentials.username ?? ''}:${credentials.password}`).toString('base64');
    registerSecret(encoded);
    return `Basic ${encoded}`;
  }

  /** Looked up once per registry: options first, then docker's config (helpers run at most once). */
  private credentials(registry: string): Promise<FoundCredentials | undefined> {
    let found = this.found.get(registry);
    if (!found) {
      found = this.lookup(registry);
      this.found.set(registry, found);
    }
    return found;
  }

  private async lookup(registry: string): Promise<FoundCredentials | undefined> {
    const host = registryHost(registry);
    for (const [key, credentials] of Object.entries(this.options.credentials ?? {})) {
      if (registryHost(key) === host) return { credentials, source: 'the credentials given to arbor' };
    }
    this.dockerConfig ??= readDockerConfig(this.options.dockerConfigDir);
    return findCredentials(await this.dockerConfig, registry);
  }

  private dispatcher(): Dispatcher {
    if (this.options.dispatcher) return this.options.dispatcher;
    this.ownDispatcher ??= createTlsAgent(this.options.caFile);
    return this.ownDispatcher;
  }
}
