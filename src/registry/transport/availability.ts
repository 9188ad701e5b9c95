// A circuit breaker for a registry that went away. Without it every request in flight waits out
// its own retries (docker push: ≈ 50 s per image). With it, the first request that finds the
// registry unreachable marks it down; from then on new requests wait for one shared probe
// (`GET /v2/`, any HTTP answer means "back") instead of hammering it, and continue the moment it
// answers. If it stays away longer than the outage budget, the registry is declared gone: every
// waiting and later request fails at once with one message, and callers stop launching work.
import { RegistryError } from '../errors.js';
import { type BackoffPolicy, backoffDelay, sleep } from './backoff.js';
import {
  describeRequest,
  type Layer,
  type RegistryRequest,
  type RegistryResponse,
  type Send,
} from './types.js';

export type AvailabilityState =
  | { state: 'up' }
  | { state: 'down'; since: number; reason: string }
  | { state: 'gone'; since: number; reason: string };

export interface Availability {
  readonly current: AvailabilityState;
  /**
   * Resolves when the registry is up again; rejects with the outage error once it is declared
   * gone, naming `request` (the one that will not be sent) when given.
   */
  ready(request?: RegistryRequest): Promise<void>;
}

export interface AvailabilityOptions {
  registry: string;
  baseUrl: URL;
  /** How long an outage may last before the registry is declared gone (ms). */
  budgetMs: number;
  /** Delays between probes. */
  probe: BackoffPolicy;
  now?: () => number;
}

/** Connection-level failures: the registry (or the path to it) is not there at all. */
const OUTAGE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
/** A load balancer in front of a registry that is down answers these to every request. */
const OUTAGE_STATUSES = new Set([502, 503, 504]);
/** Consecutive outage-like answers (no success between them) before the registry counts as down. */
const OUTAGE_ANSWERS = 5;

export function isOutageError(e: unknown): boolean {
  return e instanceof RegistryError && e.code !== undefined && OUTAGE_CODES.has(e.code);
}

/**
 * The layer and the shared state it keeps. `ping` sends the probe past auth and retries (any
 * answer, even 401, means the registry is there).
 */
export function availabilityLayer(
  options: AvailabilityOptions,
  ping: Send,
): { layer: Layer; availability: Availability } {
  const now = options.now ?? Date.now;
  let current: AvailabilityState = { state: 'up' };
  // Only a registry that answered once can "go away": one that never answered is not waited for
  // (a wrong port, a registry not started), its requests fail after their own retries.
  let answered = false;
  let recovered: Promise<void> | undefined;
  let failedAnswers = 0;

  const goneError = (state: Extract<AvailabilityState, { state: 'gone' }>, request?: RegistryRequest) => {
    const seconds =
      options.budgetMs >= 10_000 ? Math.round(options.budgetMs / 1000) : options.budgetMs / 1000;
    const summary = `${state.reason} for more than ${seconds} s; stopped`;
    const before = request
      ? ` before ${describeRequest(request, new URL(request.url, options.baseUrl))}`
      : '';
    return new RegistryError(request?.reference ?? options.registry, `${summary}${before}`, {
      code: 'REGISTRY_GONE',
      summary,
    });
  };

  /** Probes until the registry answers (up) or the budget is spent (gone); never rejects. */
  const probe = async (downSince: number): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await ping({
          method: 'GET',
          url: '/v2/',
          scope: null,
          reference: options.registry,
          idempotent: true,
        });
        await response.body.dump();
        if (!OUTAGE_STATUSES.has(response.status)) {
          current = { state: 'up' };
          failedAnswers = 0;
          return;
        }
      } catch (e) {
        if (!isOutageError(e)) {
          // Not an outage any more (TLS, DNS…): let the requests find out for themselves.
          current = { state: 'up' };
          return;
        }
        // The message at the end names what the registry does now, not what it did first.
        if (current.state === 'down') current = { ...current, reason: (e as RegistryError).summary };
      }
      if (now() - downSince >= options.budgetMs) {
        const reason = current.state === 'up' ? 'registry unreachable' : current.reason;
        current = { state: 'gone', since: now(), reason };
        return;
      }
      await sleep(Math.max(50, backoffDelay(attempt, options.probe)));
    }
  };

  const markDown = (reason: string) => {
    if (current.state !== 'up') return;
    const since = now();
    current = { state: 'down', since, reason };
    recovered = probe(since);
  };

  const availability: Availability = {
    get current() {
      return current;
    },
    async ready(request) {
      if (current.state === 'down') await recovered?.catch(() => undefined);
      if (current.state === 'gone') throw goneError(current, request);
    },
  };

  const layer: Layer =
    (next) =>
    async (request: RegistryRequest): Promise<RegistryResponse> => {
      await availability.ready(request);
      let response: RegistryResponse;
      try {
        response = await next(request);
      } catch (e) {
        if (answered && isOutageError(e)) markDown((e as RegistryError).summary);
        throw e;
      }
      answered = true;
      if (OUTAGE_STATUSES.has(response.status)) {
        failedAnswers++;
        if (failedAnswers >= OUTAGE_ANSWERS) markDown(`HTTP ${response.status}`);
      } else failedAnswers = 0;
      return response;
    };

  return { layer, availability };
}
