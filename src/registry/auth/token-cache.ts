// Bearer tokens per registry, keyed by the scopes they were requested for. A token for
// `repository:x:pull,push` also serves a request needing only `pull`. A token is used until a
// margin before `expires_in` runs out (10 % of its lifetime, at least 1 s for the request to
// reach the registry, at most 10 s, never more than half the lifetime), so a request never
// leaves with a token that dies in flight. Concurrent requests for the same scopes share one
// fetch: a burst of 100 HEADs after expiry asks the token server once.
import { covers, type ResourceScope, scopeKey } from './scope.js';

export interface CachedToken {
  token: string;
  scopes: ResourceScope[];
  fetchedAt: number;
  /** When the server says it expires (ms, same clock as `now`). */
  expiresAt: number;
  /** From here on a new token is fetched instead. */
  refreshAt: number;
  /**
   * Given out by header() for a first attempt. Only such a token can be the one a 401 answered
   * (a retry's 401 is final), which matters when the caller does not say what it sent.
   */
  sentFirst: boolean;
}

const MAX_MARGIN_MS = 10_000;
const MIN_MARGIN_MS = 1_000;

export function refreshMargin(lifetimeMs: number): number {
  return Math.min(MAX_MARGIN_MS, lifetimeMs / 2, Math.max(MIN_MARGIN_MS, lifetimeMs * 0.1));
}

export class TokenCache {
  private readonly tokens = new Map<string, CachedToken[]>();
  private readonly inflight = new Map<string, { scopes: ResourceScope[]; promise: Promise<CachedToken> }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A token still fresh (before its refresh point) whose scopes cover `wanted`. */
  find(registry: string, wanted: ResourceScope[]): CachedToken | undefined {
    const now = this.now();
    const list = (this.tokens.get(registry) ?? []).filter((t) => t.expiresAt > now);
    this.tokens.set(registry, list);
    return list.find((t) => t.refreshAt > now && covers(t.scopes, wanted));
  }

  /**
   * The fresh token covering `wanted`, or the one being fetched for it, or a new fetch by
   * `fetcher` (requested for exactly `wanted`) that later callers share.
   */
  async obtain(
    registry: string,
    wanted: ResourceScope[],
    fetcher: () => Promise<{ token: string; expiresInS: number }>,
  ): Promise<CachedToken> {
    const cached = this.find(registry, wanted);
    if (cached) return cached;
    for (const [key, pending] of this.inflight) {
      if (key.startsWith(`${registry} `) && covers(pending.scopes, wanted)) return pending.promise;
    }
    const key = `${registry} ${scopeKey(wanted)}`;
    const promise = (async () => {
      const fetchedAt = this.now();
      const grant = await fetcher();
      const lifetime = grant.expiresInS * 1000;
      const entry: CachedToken = {
        token: grant.token,
        scopes: wanted,
        fetchedAt,
        expiresAt: fetchedAt + lifetime,
        refreshAt: fetchedAt + lifetime - refreshMargin(lifetime),
        sentFirst: false,
      };
      const list = this.tokens.get(registry) ?? [];
      list.push(entry);
      this.tokens.set(registry, list);
      return entry;
    })();
    this.inflight.set(key, { scopes: wanted, promise });
    try {
      return await promise;
    } finally {
      this.inflight.delete(key);
    }
  }

  byToken(registry: string, token: string): CachedToken | undefined {
    return this.tokens.get(registry)?.find((t) => t.token === token);
  }

  /** Forget a token the registry refused (expired early or revoked). */
  drop(registry: string, token: string): void {
    this.forget(registry, (t) => t.token === token);
  }

  /** Forget every token covering `wanted` (one of them was refused: the others are no fresher). */
  dropCovering(registry: string, wanted: ResourceScope[]): void {
    this.forget(registry, (t) => covers(t.scopes, wanted));
  }

  /**
   * When the caller cannot say which token a 401 answered: forget those covering `wanted` that
   * header() gave out. Tokens only handed to retries stay, so requests that went out anonymous
   * in a burst all share the token the first challenge fetched.
   */
  dropSentCovering(registry: string, wanted: ResourceScope[]): void {
    this.forget(registry, (t) => t.sentFirst && covers(t.scopes, wanted));
  }

  /** Forget the registry's tokens that `gone` picks. */
  private forget(registry: string, gone: (token: CachedToken) => boolean): void {
    const list = this.tokens.get(registry);
    if (list)
      this.tokens.set(
        registry,
        list.filter((t) => !gone(t)),
      );
  }

  /** How many tokens are held for a registry (for tests and debug output). */
  size(registry: string): number {
    return this.tokens.get(registry)?.length ?? 0;
  }
}
