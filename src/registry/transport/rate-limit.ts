// Pull budgets: registries such as Docker Hub send `ratelimit-limit: 100;w=21600` and
// `ratelimit-remaining: 76;w=21600`. The last values seen are kept for the CLI to show.
import { header, type Layer } from './types.js';

export interface RateLimit {
  limit?: number;
  remaining: number;
  /** The window the budget is counted over, when the registry says (`w=`). */
  windowSeconds?: number;
}

/** `76;w=21600` → { value: 76, windowSeconds: 21600 } */
export function parseRateLimitValue(
  value: string | undefined,
): { value: number; windowSeconds?: number } | undefined {
  if (!value) return undefined;
  const [count, ...params] = value.split(';');
  const n = Number(count?.trim());
  if (count === undefined || count.trim() === '' || !Number.isInteger(n) || n < 0) return undefined;
  const window = params.map((p) => /^\s*w\s*=\s*(\d+)\s*$/.exec(p)?.[1]).find((w) => w !== undefined);
  return window !== undefined ? { value: n, windowSeconds: Number(window) } : { value: n };
}

export function readRateLimit(
  remainingHeader: string | undefined,
  limitHeader: string | undefined,
): RateLimit | undefined {
  const remaining = parseRateLimitValue(remainingHeader);
  if (!remaining) return undefined;
  const limit = parseRateLimitValue(limitHeader);
  const windowSeconds = remaining.windowSeconds ?? limit?.windowSeconds;
  return {
    remaining: remaining.value,
    ...(limit ? { limit: limit.value } : {}),
    ...(windowSeconds !== undefined ? { windowSeconds } : {}),
  };
}

export function rateLimitLayer(onRateLimit: (rateLimit: RateLimit) => void): Layer {
  return (next) => async (request) => {
    const response = await next(request);
    const seen = readRateLimit(header(response, 'ratelimit-remaining'), header(response, 'ratelimit-limit'));
    if (seen) onRateLimit(seen);
    return response;
  };
}
