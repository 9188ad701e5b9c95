// One error type for everything a registry conversation can end in, with a one-line message
// that names the reference, e.g. `127.0.0.1:5000/ns/x:tag: manifest unknown (404)`.

export interface RegistryErrorOptions {
  status?: number;
  /** The distribution error code (`MANIFEST_UNKNOWN`) or the connection error code (`ECONNREFUSED`). */
  code?: string;
  /**
   * True when starting the whole operation again may succeed (connection lost, 5xx, 429, or an
   * authorization that expired while a streamed body was in flight).
   */
  restartable?: boolean;
  cause?: unknown;
  /** The reason in few words, without the reference or the request (`registry unreachable (ECONNREFUSED …)`). */
  summary?: string;
}

export class RegistryError extends Error {
  readonly reference: string;
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly restartable: boolean;
  /** The reason without the reference (for messages that summarise several failures). */
  readonly summary: string;

  constructor(reference: string, reason: string, options: RegistryErrorOptions = {}) {
    const suffix = options.status !== undefined ? ` (${options.status})` : '';
    super(`${reference}: ${reason}${suffix}`, options.cause !== undefined ? { cause: options.cause } : {});
    this.name = 'RegistryError';
    this.reference = reference;
    this.status = options.status;
    this.code = options.code;
    this.restartable = options.restartable ?? false;
    this.summary = options.summary ?? `${reason}${suffix}`;
  }
}

/** What `request` resolves to, or `absent` when the registry answers 404 (a tag or repository that is not there). */
export async function unlessNotFound<T, A>(request: Promise<T>, absent: A): Promise<T | A> {
  try {
    return await request;
  } catch (e) {
    if (e instanceof RegistryError && e.status === 404) return absent;
    throw e;
  }
}

export function isRestartable(e: unknown): boolean {
  return e instanceof RegistryError && e.restartable;
}

/** A registry's own failure (5xx), after the client's retries: not an answer about the content. */
export function isServerError(e: unknown): e is RegistryError {
  return e instanceof RegistryError && e.status !== undefined && e.status >= 500;
}
