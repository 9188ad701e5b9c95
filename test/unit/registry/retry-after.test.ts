// The retry layer as a function over plain values: a server that keeps asking to wait (429 with
// Retry-After) is waited for, but not past two minutes in all for one request; then its answer is
// the result, so a command is not held silent for eight times its Retry-After.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RegistryError } from '../../../src/registry/errors.js';
import { DEFAULT_BACKOFF } from '../../../src/registry/transport/backoff.js';
import { MAX_RETRY_AFTER_TOTAL_MS, retryLayer } from '../../../src/registry/transport/retry.js';
import type { RegistryRequest, RegistryResponse } from '../../../src/registry/transport/types.js';

afterEach(() => {
  vi.useRealTimers();
});

const request: RegistryRequest = {
  method: 'HEAD',
  url: '/v2/ns/x/manifests/v1',
  scope: null,
  reference: '127.0.0.1:5000/ns/x:v1',
  idempotent: true,
};

function answer(status: number, retryAfter?: string): RegistryResponse {
  return {
    status,
    headers: retryAfter ? { 'retry-after': retryAfter } : {},
    body: { dump: async () => undefined } as unknown as RegistryResponse['body'],
    url: new URL('http://127.0.0.1:5000/v2/'),
  };
}

describe('retryLayer and timeouts', () => {
  it('a request that timed out waiting for its answer is tried twice more, not eight times', async () => {
    vi.useFakeTimers();
    let calls = 0;
    const send = retryLayer({ retries: 8, policy: DEFAULT_BACKOFF })(async () => {
      calls++;
      throw new RegistryError(request.reference, 'registry did not answer in time', {
        code: 'UND_ERR_HEADERS_TIMEOUT',
        restartable: true,
      });
    });
    const result = send(request).catch((e: Error) => e);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(((await result) as Error).message).toContain('did not answer in time');
    expect(calls).toBe(3);
  });
});

describe('retryLayer and Retry-After', () => {
  it('waits out a Retry-After of 50 s twice, then gives the 429 back rather than waiting a third time', async () => {
    vi.useFakeTimers();
    const sent: number[] = [];
    const send = retryLayer({ retries: 8, policy: DEFAULT_BACKOFF })(async () => {
      sent.push(Date.now());
      return answer(429, '50');
    });
    const result = send(request);
    await vi.advanceTimersByTimeAsync(MAX_RETRY_AFTER_TOTAL_MS);
    expect((await result).status).toBe(429);
    expect(sent).toHaveLength(3);
    expect(sent[2]! - sent[0]!).toBe(100_000);
  });

  it('a short Retry-After is honoured each time until the server answers', async () => {
    vi.useFakeTimers();
    let calls = 0;
    const send = retryLayer({ retries: 8, policy: DEFAULT_BACKOFF })(async () =>
      ++calls < 4 ? answer(503, '1') : answer(200),
    );
    const result = send(request);
    await vi.advanceTimersByTimeAsync(3_000);
    expect((await result).status).toBe(200);
    expect(calls).toBe(4);
  });
});
