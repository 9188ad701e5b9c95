// Retries idempotent requests on connection errors, 5xx and 429, with backoff and Retry-After.
// A request that is not idempotent, or whose body is a stream already consumed, is returned or
// thrown as is: its owner (an upload) restarts from the beginning if it can.
import { isRestartable, type RegistryError } from '../errors.js';
import { type BackoffPolicy, backoffDelay, isRetryableStatus, parseRetryAfter, sleep } from './backoff.js';
import { header, isReplayable, type Layer } from './types.js';

export interface RetryOptions {
  /** Extra attempts after the first. */
  retries: number;
  policy: BackoffPolicy;
  debug?: (line: string) => void;
}

/** Retries of a request that timed out waiting for its answer. */
const MAX_TIMEOUT_RETRIES = 2;

/** The most one request waits in all on a server's Retry-After before its answer is the result. */
export const MAX_RETRY_AFTER_TOTAL_MS = 120_000;

export function retryLayer(options: RetryOptions): Layer {
  return (next) => async (request) => {
    // What the server's own Retry-After cost this request so far: a server asking for 50 s eight
    // times would hold a command silent for minutes; past MAX_RETRY_AFTER_TOTAL_MS its answer is shown.
    let waitedOnServer = 0;
    let timeouts = 0;
    for (let attempt = 0; ; attempt++) {
      const mayRetry = request.idempotent && isReplayable(request) && attempt < options.retries;
      let response: Awaited<ReturnType<typeof next>>;
      try {
        response = await next(request);
      } catch (e) {
        if (!mayRetry || !isRestartable(e)) throw e;
        // A registry that let the request wait out its whole timeout is unlikely to answer the
        // next one: two more tries, not eight (eight were minutes of silence).
        if ((e as RegistryError).code === 'UND_ERR_HEADERS_TIMEOUT' && ++timeouts > MAX_TIMEOUT_RETRIES)
          throw e;
        const wait = backoffDelay(attempt, options.policy);
        options.debug?.(
          `retry ${attempt + 1}/${options.retries} in ${wait} ms after: ${(e as Error).message}`,
        );
        await sleep(wait);
        continue;
      }
      if (!mayRetry || !isRetryableStatus(response.status)) return response;
      const retryAfter = parseRetryAfter(header(response, 'retry-after'));
      // A server that asks for a long pause (a pull budget spent for hours) gets its answer shown, not a hang.
      if (retryAfter !== undefined && retryAfter > options.policy.maxRetryAfterMs) return response;
      if (retryAfter !== undefined && waitedOnServer + retryAfter > MAX_RETRY_AFTER_TOTAL_MS) return response;
      if (retryAfter !== undefined) waitedOnServer += retryAfter;
      await response.body.dump();
      const wait = retryAfter ?? backoffDelay(attempt, options.policy);
      options.debug?.(
        `retry ${attempt + 1}/${options.retries} in ${wait} ms after ${response.status}` +
          (retryAfter !== undefined ? ' (Retry-After)' : ''),
      );
      await sleep(wait);
    }
  };
}
