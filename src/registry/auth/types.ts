// The contract between the registry transport (which sends requests) and authentication
// (which knows credentials and tokens). The transport never sees where credentials come from;
// auth never sends registry requests itself (it may call a token endpoint).

export type Action = 'pull' | 'push' | 'delete';

/** `repository:NAME:ACTIONS`, the unit tokens are issued and cached for. */
export interface Scope {
  repository: string;
  actions: Action[];
}

export function formatScope(scope: Scope): string {
  return `repository:${scope.repository}:${[...scope.actions].sort().join(',')}`;
}

export interface Authenticator {
  /**
   * The Authorization header for a request to `registry` needing `scope`, from what is known
   * already (cached token still valid for a margin, or Basic credentials after a Basic
   * challenge). Undefined before any challenge was seen: the first request goes out anonymous.
   */
  header(registry: string, scope: Scope | null): Promise<string | undefined>;
  /**
   * Called with the `WWW-Authenticate` value of a 401. Fetches (or refreshes) a token for the
   * scope, or remembers that Basic is wanted. Returns the header to retry with, or undefined
   * when there is nothing more to try (no credentials known): the caller reports the 401.
   * Throws an ArborError with a clear reason when it knows more than the 401 says (wrong
   * credentials, token server unreachable or refusing, certificate not trusted).
   *
   * `rejected` is the Authorization header the 401 answered: null when the request went out
   * anonymous, undefined when the caller does not say. With it, a token that expired or was
   * revoked mid-operation is dropped and replaced, while a request that raced a refresh simply
   * gets the newer token (no second fetch). Callers retry a request at most once per 401.
   */
  challenge(
    registry: string,
    scope: Scope | null,
    wwwAuthenticate: string,
    rejected?: string | null,
  ): Promise<string | undefined>;
}

/** Credentials for one registry, from docker's config.json, a credential helper, or options. */
export interface Credentials {
  username?: string;
  password?: string;
  /** An identity (refresh) token, used as the OAuth2 refresh_token grant. */
  identityToken?: string;
}
