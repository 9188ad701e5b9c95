// Pure pieces of the transport: backoff, Retry-After, rate-limit headers, connection errors.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  backoffDelay,
  DEFAULT_BACKOFF,
  isRetryableStatus,
  parseRetryAfter,
} from '../../../src/registry/transport/backoff.js';
import { describeConnectionError } from '../../../src/registry/transport/connection-errors.js';
import { parseRateLimitValue, readRateLimit } from '../../../src/registry/transport/rate-limit.js';

describe('backoffDelay (full jitter)', () => {
  it('stays within [0, min(max, base·2^attempt)] for any attempt and random value', () => {
    fc.assert(
      fc.property(fc.nat(40), fc.double({ min: 0, max: 0.9999999, noNaN: true }), (attempt, r) => {
        const delay = backoffDelay(attempt, DEFAULT_BACKOFF, () => r);
        const ceiling = Math.min(DEFAULT_BACKOFF.maxMs, DEFAULT_BACKOFF.baseMs * 2 ** attempt);
        return Number.isInteger(delay) && delay >= 0 && delay <= ceiling;
      }),
    );
  });

  it('doubles its ceiling per attempt until the cap', () => {
    const top = () => 0.9999999;
    const policy = { baseMs: 100, maxMs: 1000, maxRetryAfterMs: 0 };
    expect([0, 1, 2, 3, 4, 5].map((a) => backoffDelay(a, policy, top))).toEqual([
      99, 199, 399, 799, 999, 999,
    ]);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-03-01T12:00:00Z');
  it('reads delta-seconds', () => {
    expect(parseRetryAfter('0', now)).toBe(0);
    expect(parseRetryAfter(' 7 ', now)).toBe(7000);
  });
  it('reads an HTTP-date relative to now, never negative', () => {
    expect(parseRetryAfter('Sat, 01 Mar 2025 12:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Sat, 01 Mar 2025 11:00:00 GMT', now)).toBe(0);
  });
  it('ignores absent and unreadable values', () => {
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-3', now)).toBeUndefined();
    expect(parseRetryAfter('1.5', now)).toBeUndefined();
  });
});

describe('isRetryableStatus', () => {
  it('retries 429, 408 and server errors except "not implemented" answers', () => {
    expect([429, 408, 500, 502, 503, 504].every(isRetryableStatus)).toBe(true);
    expect([200, 201, 400, 401, 403, 404, 405, 501, 505].some(isRetryableStatus)).toBe(false);
  });
});

describe('rate-limit headers', () => {
  it('reads Docker Hub style values with a window', () => {
    expect(readRateLimit('76;w=21600', '100;w=21600')).toEqual({
      remaining: 76,
      limit: 100,
      windowSeconds: 21600,
    });
    expect(readRateLimit('5', undefined)).toEqual({ remaining: 5 });
    expect(parseRateLimitValue('100, 100;w=21600')).toBeUndefined();
  });
  it('ignores absent or malformed budgets', () => {
    expect(readRateLimit(undefined, '100')).toBeUndefined();
    expect(readRateLimit('lots', '100')).toBeUndefined();
    expect(readRateLimit('', '100')).toBeUndefined();
  });
});

describe('describeConnectionError', () => {
  const err = (code: string, message = code) => Object.assign(new Error(message), { code });
  it('names refused connections with the address', () => {
    expect(describeConnectionError(err('ECONNREFUSED'), '127.0.0.1:5000')).toEqual({
      reason: 'registry unreachable (ECONNREFUSED 127.0.0.1:5000)',
      code: 'ECONNREFUSED',
      transient: true,
    });
  });
  it('finds codes on the cause, as undici wraps socket errors', () => {
    const wrapped = Object.assign(new Error('fetch failed'), { cause: err('SELF_SIGNED_CERT_IN_CHAIN') });
    expect(describeConnectionError(wrapped, 'r:443')).toMatchObject({
      reason: 'TLS certificate not trusted (use ca_file)',
      transient: false,
    });
  });
  it('tells lost connections and timeouts apart, both transient', () => {
    expect(describeConnectionError(err('UND_ERR_SOCKET', 'other side closed'), 'r')).toMatchObject({
      reason: 'connection to r lost (UND_ERR_SOCKET)',
      transient: true,
    });
    expect(describeConnectionError(err('UND_ERR_HEADERS_TIMEOUT'), 'r')).toMatchObject({ transient: true });
  });
  it('does not retry what will not heal: unknown hosts, wrong protocol', () => {
    expect(describeConnectionError(err('ENOTFOUND'), 'nowhere.invalid')).toMatchObject({
      reason: 'registry unreachable (host not found: nowhere.invalid)',
      transient: false,
    });
    expect(
      describeConnectionError(
        err('ERR_SSL_WRONG_VERSION_NUMBER', 'ssl3_get_record:wrong version number'),
        'r',
      ),
    ).toMatchObject({ transient: false });
  });
});
