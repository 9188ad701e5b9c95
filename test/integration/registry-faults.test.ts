// Resilience against a real registry behind a loopback proxy that fails on request: retries
// with backoff and Retry-After, upload sessions restarted from the beginning, a 401 in the
// middle of an upload, garbage manifests, rate-limit budgets, and a registry that goes away.

import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { createAuthenticator } from '../../src/registry/auth/index.js';
import {
  createRegistryClient,
  type RegistryClient,
  type RegistryClientOptions,
} from '../../src/registry/client.js';
import { RegistryError } from '../../src/registry/errors.js';
import { registryBlob } from '../../src/transfer/blob-source.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { pushImage, sha256 } from './registry-fixtures.js';

let registry: TestRegistry;
let proxy: FaultProxy;
const clients: RegistryClient[] = [];

function client(options: Partial<RegistryClientOptions> = {}): RegistryClient {
  const c = createRegistryClient({
    registry: proxy.host,
    insecure: true,
    backoff: { baseMs: 20, maxMs: 100 },
    ...options,
  });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  registry = await startRegistry();
  proxy = await startFaultProxy(registry.port);
});

beforeEach(() => {
  proxy.requests.length = 0;
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await proxy?.stop();
  if (registry) await destroyRegistry(registry);
});

/**
 * destroyRegistry() after stop() would wait for an exit that already happened (a child killed by
 * a signal keeps exitCode null), so a stopped registry's directory is removed directly.
 */
async function removeStopped(stopped: TestRegistry): Promise<void> {
  await rm(stopped.dir, { recursive: true, force: true });
}

const manifestsOf = (repo: string) => (_method: string, url: string) =>
  url.startsWith(`/v2/${repo}/manifests/`);

describe('retries of idempotent requests', () => {
  it('503 twice, then the answer: HEAD succeeds on the third attempt', async () => {
    const c = client();
    const image = await pushImage(c, 'ns/retry', 'v1');
    proxy.requests.length = 0;
    proxy.failNext(2, 503, { match: manifestsOf('ns/retry') });
    expect((await c.headManifest('ns/retry', 'v1'))?.digest).toBe(image.digest);
    expect(proxy.requests.map((r) => r.status)).toEqual([503, 503, 200]);
  });

  it('429 with Retry-After: 1 (seconds) waits a whole second before trying again', async () => {
    const c = client();
    await pushImage(c, 'ns/slow', 'v1');
    proxy.requests.length = 0;
    proxy.failNext(1, 429, { retryAfter: '1', match: manifestsOf('ns/slow') });
    await c.getManifest('ns/slow', 'v1');
    const [refused, answered] = proxy.requests;
    expect(refused?.status).toBe(429);
    expect(answered?.status).toBe(200);
    const waited = (answered?.at ?? 0) - (refused?.at ?? 0);
    expect(waited).toBeGreaterThanOrEqual(950);
    expect(waited).toBeLessThan(3000);
  });

  it('Retry-After as an HTTP-date is honoured too', async () => {
    const c = client();
    await pushImage(c, 'ns/dated', 'v1');
    proxy.requests.length = 0;
    // HTTP-dates have whole seconds: two seconds ahead is at least one second away.
    const when = new Date(Date.now() + 2000).toUTCString();
    proxy.failNext(1, 503, { retryAfter: when, match: manifestsOf('ns/dated') });
    await c.headManifest('ns/dated', 'v1');
    const [refused, answered] = proxy.requests;
    expect((answered?.at ?? 0) - (refused?.at ?? 0)).toBeGreaterThanOrEqual(950);
  });

  it('gives up after its retries with the last status, naming the reference', async () => {
    const c = client({ retries: 2 });
    proxy.failNext(10, 503, { match: manifestsOf('ns/down') });
    const error = await c.headManifest('ns/down', 'v1').catch((e) => e);
    expect(error).toBeInstanceOf(RegistryError);
    expect(error.message).toBe(`${proxy.host}/ns/down:v1: registry unavailable (503)`);
    expect(proxy.requests.filter((r) => r.injected)).toHaveLength(3);
    proxy.failNext(0, 503);
  });

  it('a Retry-After longer than the limit is not waited for', async () => {
    const c = client();
    proxy.failNext(1, 429, { retryAfter: '3600', match: manifestsOf('ns/budget') });
    const started = Date.now();
    const error = await c.headManifest('ns/budget', 'v1').catch((e) => e);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(error.message).toBe(`${proxy.host}/ns/budget:v1: too many requests (429)`);
  });
});

describe('uploads continue from the offset the registry reports, never blindly', () => {
  it('a failed POST that opens the session is not retried by the transport; the upload starts over', async () => {
    const c = client();
    const blob = Buffer.from('restart me');
    proxy.failNext(1, 503, { match: (m, url) => m === 'POST' && url.includes('/ns/post/blobs/uploads/') });
    await c.uploadBlob('ns/post', sha256(blob), blob, blob.length);
    expect(proxy.requests.map((r) => `${r.method} ${r.status}`)).toEqual(['POST 503', 'POST 202', 'PUT 201']);
    expect(await c.headBlob('ns/post', sha256(blob))).toEqual({ size: blob.length });
  });

  it('a cross-repository mount answered 503 is asked again, and mounts', async () => {
    const c = client();
    const blob = Buffer.from('mount me again');
    await c.uploadBlob('ns/mount-from', sha256(blob), blob, blob.length);
    proxy.requests.length = 0;
    proxy.failNext(2, 503, {
      match: (m, url) => m === 'POST' && url.includes('/ns/mount-to/blobs/uploads/?mount='),
    });
    expect(await c.mountBlob('ns/mount-to', sha256(blob), 'ns/mount-from')).toEqual({ mounted: true });
    expect(proxy.requests.map((r) => `${r.method} ${r.status}`)).toEqual([
      'POST 503',
      'POST 503',
      'POST 201',
    ]);
    expect(await c.headBlob('ns/mount-to', sha256(blob))).toEqual({ size: blob.length });
  });

  it('a PATCH chunk refused before the registry saw it: the session status says 1000, the upload continues there', async () => {
    const c = client({ chunkSize: 1000 });
    const blob = Buffer.alloc(3500, 7);
    let patches = 0;
    proxy.failNext(1, 503, { match: (m) => m === 'PATCH' && ++patches === 2 });
    await c.uploadBlob('ns/chunks', sha256(blob), blob, blob.length);
    expect(proxy.requests.map((r) => `${r.method} ${r.status}`)).toEqual([
      'POST 202',
      'PATCH 202',
      'PATCH 503',
      'HEAD 404',
      'GET 204',
      'PATCH 202',
      'PATCH 202',
      'PATCH 202',
      'PUT 201',
    ]);
    expect(await c.headBlob('ns/chunks', sha256(blob))).toEqual({ size: 3500 });
    expect(c.bytesUploaded).toBe(3500);
  });

  it('an upload cut in every chunk gives up saying how often it started over, and why', async () => {
    const c = client({ chunkSize: 1000, retries: 2 });
    const blob = Buffer.alloc(3500, 9);
    proxy.chaos({ seed: 5, cutUploadRate: 1 });
    try {
      const failed = await c
        .uploadBlob('ns/cut-always', sha256(blob), blob, blob.length)
        .catch((e: Error) => e);
      expect(failed).toBeInstanceOf(Error);
      expect((failed as Error).message).toMatch(
        /ns\/cut-always@sha256:[0-9a-f]{64}: .*; the upload started over 2 time\(s\), having reached at most .* of 3.4 KiB \(the registry drops a session whose chunk is cut\): mend the link, or carry the release as a bundle \(arbor bundle\)$/,
      );
    } finally {
      proxy.chaos(null);
    }
  });

  it('a one-shot stream that fails is reported, not restarted', async () => {
    const c = client();
    const blob = Buffer.from('only once');
    proxy.failNext(1, 503, { match: (m, url) => m === 'PUT' && url.includes('/ns/once/') });
    const error = await c
      .uploadBlob('ns/once', sha256(blob), Readable.from([blob]), blob.length)
      .catch((e) => e);
    expect(error.message).toBe(`${proxy.host}/ns/once@${sha256(blob)}: registry unavailable (503)`);
    expect(proxy.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
  });
});

describe('a blob uploaded from another registry', () => {
  // The source is the same registry through a proxy of its own, with one connection: a body left
  // unread would hold it, and the next request to the source would wait for its timeout.
  let sourceProxy: FaultProxy;
  let source: RegistryClient;
  const blob = randomBytes(200_000);
  const digest = sha256(blob);
  // Small enough to arrive whole in the client's buffers, and its break with it, before any read.
  const small = randomBytes(20_000);
  const blobGets = () => sourceProxy.requests.filter((r) => r.method === 'GET' && r.url.includes('/blobs/'));

  beforeAll(async () => {
    sourceProxy = await startFaultProxy(registry.port);
    source = createRegistryClient({
      registry: sourceProxy.host,
      insecure: true,
      maxConnections: 1,
      timeoutMs: 10_000,
      backoff: { baseMs: 20, maxMs: 100 },
    });
    await source.uploadBlob('ns/origin', digest, blob, blob.length);
    await source.uploadBlob('ns/origin', sha256(small), small, small.length);
  });

  afterAll(async () => {
    await source?.close();
    await sourceProxy?.stop();
  });

  beforeEach(() => {
    sourceProxy.requests.length = 0;
  });

  const fromSource = () => registryBlob(source, 'ns/origin', digest, blob.length);
  const postsTo = (repository: string) => (m: string, url: string) =>
    m === 'POST' && url.includes(`/${repository}/blobs/uploads/`);

  it('is asked of the source while the target opens its session', async () => {
    const c = client({ timeoutMs: 500 });
    // What the source had answered each time the target saw a POST (an observer that injects nothing).
    const getsAtPosts: number[] = [];
    proxy.failNext(1, 503, {
      match: (m, url) => {
        if (postsTo('ns/overlap')(m, url)) getsAtPosts.push(blobGets().length);
        return false;
      },
    });
    // The first POST is never answered (the client gives up after 500 ms and asks again): by
    // then the source's answer has surely been seen.
    proxy.failNext(1, 503, { match: postsTo('ns/overlap'), hang: true });
    await c.uploadBlob('ns/overlap', digest, fromSource(), blob.length);
    // The target's first POST went unanswered; by its second, the source had already answered.
    expect(getsAtPosts).toHaveLength(2);
    expect(getsAtPosts[1]).toBe(1);
    expect(blobGets()).toHaveLength(1);
    expect(await c.headBlob('ns/overlap', digest)).toEqual({ size: blob.length });
  });

  it('a source answer that breaks while the target is refusing the session is asked again from where it broke', async () => {
    const c = client();
    sourceProxy.chaos({ seed: 7, cutRate: 1, match: (m, url) => m === 'GET' && url.includes('/blobs/') });
    proxy.failNext(2, 503, { match: postsTo('ns/broken-early') });
    try {
      const early = registryBlob(source, 'ns/origin', sha256(small), small.length);
      await c.uploadBlob('ns/broken-early', sha256(small), early, small.length);
    } finally {
      sourceProxy.chaos(null);
    }
    expect(blobGets().length).toBeGreaterThan(1);
    expect(await c.headBlob('ns/broken-early', sha256(small))).toEqual({ size: small.length });
  });

  it('a session the target refuses releases the source: its one connection serves the next request', async () => {
    const c = client({ retries: 1 });
    proxy.failNext(2, 503, { match: postsTo('ns/refused') });
    const error = await c.uploadBlob('ns/refused', digest, fromSource(), blob.length).catch((e) => e);
    expect(error).toBeInstanceOf(RegistryError);
    expect(error.message).toBe(`${proxy.host}/ns/refused@${digest}: registry unavailable (503)`);
    // Asked once, eagerly. The source proxy records a request when the registry's answer reaches
    // it, which may come after the target's injected refusals (CI saw it, on Node 20): wait for it.
    await vi.waitFor(() => expect(blobGets()).toHaveLength(1), { timeout: 2_000 });
    const next = source.headBlob('ns/origin', digest);
    const late = new Promise((resolve) => setTimeout(() => resolve('still waiting'), 3_000));
    expect(await Promise.race([next, late])).toEqual({ size: blob.length });
    expect(await c.headBlob('ns/refused', digest)).toBeNull();
  });
});

describe('authorization in the middle of an upload', () => {
  it('a 401 on a PATCH chunk gets a new header from the authenticator and the chunk is sent again', async () => {
    const password = 'pass-4f8a9c1e-never-printed';
    const lines: string[] = [];
    const authenticator = createAuthenticator({
      dockerConfigDir: mkdtempSync(join(tmpdir(), 'arbor-noconfig-')),
      credentials: { [proxy.host]: { username: 'alice', password } },
    });
    const c = client({ authenticator, chunkSize: 1000, debug: (l) => lines.push(l) });
    const blob = Buffer.alloc(2500, 3);
    let patches = 0;
    proxy.failNext(1, 401, {
      headers: { 'www-authenticate': 'Basic realm="arbor-test"' },
      match: (m) => m === 'PATCH' && ++patches === 2,
    });
    await c.uploadBlob('ns/auth', sha256(blob), blob, blob.length);
    expect(proxy.requests.map((r) => `${r.method} ${r.status}`)).toEqual([
      'POST 202',
      'PATCH 202',
      'PATCH 401',
      'PATCH 202',
      'PATCH 202',
      'PUT 201',
    ]);
    expect(await c.headBlob('ns/auth', sha256(blob))).toEqual({ size: 2500 });
    const log = lines.join('\n');
    expect(log).toContain('PATCH http://');
    expect(log).toContain('→ 401');
    expect(log).not.toContain(password);
    expect(log).not.toContain(Buffer.from(`alice:${password}`).toString('base64'));
    expect(log.toLowerCase()).not.toContain('authorization');
  });

  it('a 401 without credentials to offer is a one-line error', async () => {
    const c = client();
    proxy.failNext(1, 401, {
      headers: { 'www-authenticate': 'Basic realm="arbor-test"' },
      match: manifestsOf('ns/locked'),
    });
    const error = await c.headManifest('ns/locked', 'v1').catch((e) => e);
    expect(error.message).toBe(`${proxy.host}/ns/locked:v1: unauthorized: no credentials (401)`);
  });
});

describe('bad answers', () => {
  it('malformed manifest JSON is an error naming the reference', async () => {
    const c = client();
    await pushImage(c, 'ns/garbled', 'v1');
    proxy.garbageManifests(1);
    const error = await c.getManifest('ns/garbled', 'v1').catch((e) => e);
    expect(error).toBeInstanceOf(RegistryError);
    expect(error.message).toMatch(
      new RegExp(`^${proxy.host}/ns/garbled:v1: malformed manifest JSON \\(.+\\)$`),
    );
    expect(error.message).not.toContain('\n');
  });

  it('a body that does not match Docker-Content-Digest is refused', async () => {
    const c = client();
    const image = await pushImage(c, 'ns/tampered', 'v1');
    proxy.garbageManifests(1, { keepDigest: true });
    const error = await c.getManifest('ns/tampered', 'v1').catch((e) => e);
    expect(error.message).toBe(
      `${proxy.host}/ns/tampered:v1: manifest content does not match Docker-Content-Digest ${image.digest}`,
    );
  });

  it('a registry that never answers runs into the per-request timeout', async () => {
    const c = client({ timeoutMs: 300, retries: 1 });
    proxy.failNext(2, 0, { hang: true, match: manifestsOf('ns/silent') });
    const started = Date.now();
    const error = await c.headManifest('ns/silent', 'v1').catch((e) => e);
    expect(error.message).toBe(
      `${proxy.host}/ns/silent:v1: registry did not answer in time during HEAD ${proxy.host}/v2/ns/silent/manifests/v1`,
    );
    expect(proxy.requests.filter((r) => r.injected)).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(600);
  });

  it('rate-limit headers are read and kept for the CLI', async () => {
    const c = client();
    await pushImage(c, 'ns/budget2', 'v1');
    expect(c.rateLimit).toBeUndefined();
    proxy.addHeaders({ 'ratelimit-limit': '100;w=21600', 'ratelimit-remaining': '76;w=21600' });
    await c.headManifest('ns/budget2', 'v1');
    expect(c.rateLimit).toEqual({ limit: 100, remaining: 76, windowSeconds: 21600 });
  });
});

describe('the registry goes away', () => {
  it('stopped in the middle of a streamed upload: one error naming the blob, after the outage budget', async () => {
    const own = await startRegistry();
    try {
      const c = createRegistryClient({
        registry: own.host,
        insecure: true,
        chunkSize: 64 * 1024,
        retries: 2,
        backoff: { baseMs: 20, maxMs: 50 },
        outageBudgetMs: 400,
      });
      clients.push(c);
      const piece = Buffer.alloc(16 * 1024, 1);
      const total = 64 * piece.length;
      let stopping: Promise<void> | undefined;
      async function* slow() {
        for (let i = 0; i < 64; i++) {
          if (i === 8) stopping ??= own.stop();
          await new Promise((r) => setTimeout(r, 5));
          yield piece;
        }
      }
      const digest = sha256(Buffer.alloc(total, 1));
      const started = Date.now();
      const error = await c.uploadBlob('ns/gone', digest, () => Readable.from(slow()), total).catch((e) => e);
      await stopping;
      expect(error).toBeInstanceOf(RegistryError);
      expect(error.message).toMatch(
        new RegExp(
          `^${own.host}/ns/gone@${digest}: registry unreachable \\(ECONNREFUSED ${own.host}\\) for more than 0.4 s; stopped before (POST|PATCH|PUT|GET) ${own.host}/v2/ns/gone/blobs/uploads/`,
        ),
      );
      expect(c.availability.current.state).toBe('gone');
      // The breaker's budget, not every retry's own backoff, decides how long it takes.
      expect(Date.now() - started).toBeLessThan(10_000);
      // Later requests fail at once, naming themselves.
      const later = await c.headManifest('ns/other', 'v1').catch((e) => e);
      expect(later.message).toBe(
        `${own.host}/ns/other:v1: registry unreachable (ECONNREFUSED ${own.host}) for more than 0.4 s; stopped before HEAD ${own.host}/v2/ns/other/manifests/v1`,
      );
    } finally {
      await removeStopped(own);
    }
  });

  it('not running at all: one line naming the request', async () => {
    const own = await startRegistry();
    await own.stop();
    try {
      const c = createRegistryClient({
        registry: own.host,
        insecure: true,
        retries: 1,
        backoff: { baseMs: 10 },
        outageBudgetMs: 200,
      });
      clients.push(c);
      const error = await c.headManifest('ns/x', 'v1').catch((e) => e);
      expect(error.message).toMatch(
        new RegExp(
          `^${own.host}/ns/x:v1: registry unreachable \\(ECONNREFUSED ${own.host}\\)( for more than 0.2 s; stopped before| during) HEAD ${own.host}/v2/ns/x/manifests/v1$`,
        ),
      );
      expect(error.code).toMatch(/^(ECONNREFUSED|REGISTRY_GONE)$/);
    } finally {
      await removeStopped(own);
    }
  });

  it('restarted in the middle of an upload: the same upload completes once it is back', async () => {
    const own = await startRegistry();
    try {
      const c = createRegistryClient({
        registry: own.host,
        insecure: true,
        chunkSize: 64 * 1024,
        retries: 4,
        backoff: { baseMs: 20, maxMs: 100 },
        outageBudgetMs: 20_000,
      });
      clients.push(c);
      const blob = Buffer.alloc(1024 * 1024, 7);
      const digest = sha256(blob);
      let restarting: Promise<void> | undefined;
      let sent = 0;
      const source = () =>
        Readable.from(
          (async function* () {
            for (let at = 0; at < blob.length; at += 16 * 1024) {
              sent += 16 * 1024;
              // Once, half-way through the first attempt: down for 1.5 s, then back on the same port.
              if (sent === 512 * 1024)
                restarting ??= own.stop().then(async () => {
                  await new Promise((r) => setTimeout(r, 1500));
                  await own.restart();
                });
              await new Promise((r) => setTimeout(r, 2));
              yield blob.subarray(at, at + 16 * 1024);
            }
          })(),
        );
      await c.uploadBlob('ns/back', digest, source, blob.length);
      await restarting;
      expect(await c.headBlob('ns/back', digest)).toEqual({ size: blob.length });
      expect(c.availability.current.state).toBe('up');
    } finally {
      await own.stop();
      await removeStopped(own);
    }
  });
});
