// Docker Hub deletion through its web API, against a loopback server speaking that API: login,
// paged tag listing, tag deletion, rate limits (429 + Retry-After / X-RateLimit-Reset), and
// retention apply deleting through Hub while re-checking tags on the registry.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTree } from '../../src/plan/desired.js';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { applyRetention } from '../../src/retention/apply.js';
import { DockerHubClient, hubTagTimes } from '../../src/retention/dockerhub.js';
import { planRetentionDetailed } from '../../src/retention/index.js';
import { redact } from '../../src/secrets.js';
import { type FakeDockerHub, startFakeDockerHub } from '../support/fake-dockerhub.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { day, pushVersion, writeConfig } from './retention-fixtures.js';

let hub: FakeDockerHub;
let registry: TestRegistry;
let client: RegistryClient;
const password = 'dckr_pat_fake0123456789';

beforeAll(async () => {
  hub = await startFakeDockerHub({ password, pageSize: 3 });
  registry = await startRegistry();
  client = createRegistryClient({ registry: registry.host, insecure: true });
});

afterAll(async () => {
  await client?.close();
  await hub?.close();
  if (registry) await destroyRegistry(registry);
});

function hubClient(waits: number[] = [], extra: { password?: string; maxWaitMs?: number } = {}) {
  // Sleeping moves the client's clock instead of the wall clock: after waiting out a 429 the
  // client sees the time it would see for real (the rate-limit reset the fake Hub announced then
  // lies behind it, or less than a second ahead), not a reset still 7 s away.
  let slept = 0;
  return new DockerHubClient({
    baseUrl: hub.apiUrl,
    username: 'arbor-bot',
    password: extra.password ?? password,
    now: () => Date.now() + slept,
    sleep: async (ms) => {
      waits.push(ms);
      slept += ms;
    },
    ...(extra.maxWaitMs !== undefined ? { maxWaitMs: extra.maxWaitMs } : {}),
  });
}

describe('Docker Hub web API', () => {
  it('logs in, lists every tag across next links, deletes tags (404 = already gone)', async () => {
    hub.seed('acme/app', Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`t${i}`, `sha256:${i}`])));
    const api = hubClient();
    const tags = await api.listTags('acme/app');
    expect(tags.map((t) => t.name)).toEqual(['t0', 't1', 't2', 't3', 't4', 't5', 't6']);
    expect(tags[0]).toEqual({
      name: 't0',
      digest: 'sha256:0',
      lastUpdated: '2025-01-01T00:00:00.000000Z',
      lastPushed: '2025-01-01T00:00:00.000000Z',
    });
    expect(await api.deleteTag('acme/app', 't1')).toBe('deleted');
    expect(await api.deleteTag('acme/app', 't1')).toBe('not-found');
    expect(hub.tags('acme/app')).toEqual(['t0', 't2', 't3', 't4', 't5', 't6']);
    const login = hub.requests.find((r) => r.path === '/v2/users/login')!;
    expect(login.body).toEqual({ username: 'arbor-bot', password });
    const listing = hub.requests.filter((r) => r.method === 'GET').map((r) => r.query.page ?? '1');
    expect(listing).toEqual(['1', '2', '3']);
  });

  it('waits out a 429 for Retry-After, then succeeds', async () => {
    hub.seed('acme/limited', { a: 'sha256:a' });
    const waits: number[] = [];
    const api = hubClient(waits);
    await api.login();
    hub.rateLimitNext(2, 7);
    expect(await api.deleteTag('acme/limited', 'a')).toBe('deleted');
    // Two 429s answered with Retry-After: 7 → two waits of 7 s (the sleep is injected: no wall clock).
    expect(waits.filter((w) => w === 7000)).toHaveLength(2);
  });

  it('gives up clearly when the reset is further away than it may wait', async () => {
    hub.seed('acme/slow', { a: 'sha256:a' });
    const api = hubClient([], { maxWaitMs: 5000 });
    await api.login();
    hub.rateLimitNext(1, 3600);
    await expect(api.deleteTag('acme/slow', 'a')).rejects.toThrow(
      'Docker Hub rate limit: DELETE /v2/repositories/acme/slow/tags/a/ may be retried in 3600 s, longer than the 5 s arbor waits; run again later',
    );
  });

  it('reports bad credentials without printing them', async () => {
    const failure = await hubClient([], { password: 'wrong-password-123' })
      .login()
      .catch((e: Error) => e);
    expect((failure as Error).message).toBe(
      'error: Docker Hub login as arbor-bot failed (401): Incorrect authentication credentials',
    );
    expect(redact('token wrong-password-123')).toBe('token ***');
  });

  it("plans with Hub's tag push times: an old image re-tagged minutes ago is within the grace period", async () => {
    const promoted = await pushVersion(client, 'acme/times', ['t1'], day(1));
    const old = await pushVersion(client, 'acme/times', ['t2'], day(2));
    await pushVersion(client, 'acme/times', ['t3'], day(3));
    await client.tagManifest('acme/times', promoted, 'prod');
    const recently = new Date(Date.now() - 10 * 60_000).toISOString();
    hub.seed('acme/times', { t1: promoted, t2: old, t3: 'sha256:t3', prod: promoted }, { prod: recently });
    const tree = await writeConfig(registry.host, '  - extra_repositories: ["acme/times"]\n    keep_last: 1');
    const { config } = await loadTree(tree.file);
    await tree.remove();
    const api = hubClient();
    const withTimes = await planRetentionDetailed(config, [], client, new Date(), {
      cacheDir: false,
      tagPushTimes: (repository) => hubTagTimes(api, repository),
    });
    expect(withTimes.deletions.map((d) => d.digest)).toEqual([old]);
    expect(withTimes.kept.find((k) => k.digest === promoted)!.reasons).toEqual([
      'pushed within the grace period (1h)',
    ]);
    // Without them, only the creation time speaks: the promoted image goes.
    const without = await planRetentionDetailed(config, [], client, new Date(), { cacheDir: false });
    expect(without.deletions.map((d) => d.digest).sort()).toEqual([promoted, old].sort());
  });

  it('retention apply deletes through Hub, after re-checking each digest on the registry', async () => {
    const old = await pushVersion(client, 'acme/svc', ['v1', 'v1.0'], day(1));
    const raced = await pushVersion(client, 'acme/svc', ['v2'], day(2));
    await pushVersion(client, 'acme/svc', ['v3'], day(3));
    hub.seed('acme/svc', { v1: old, 'v1.0': old, v2: raced, v3: 'sha256:v3' });
    await client.tagManifest('acme/svc', raced, 'pinned'); // pushed after the plan
    const deletion = (digest: string, tags: string[]) => ({
      repository: `${registry.host}/acme/svc`,
      tag: null,
      tags,
      digest,
      rule: 0,
      bytesFreed: 10,
      reason: 'test',
    });
    const result = await applyRetention([deletion(old, ['v1', 'v1.0']), deletion(raced, ['v2'])], client, {
      hub: hubClient(),
    });
    expect(Object.fromEntries(result.results.map((r) => [r.deletion.digest, r.status]))).toEqual({
      [old]: 'deleted',
      [raced]: 'aborted',
    });
    expect(hub.tags('acme/svc')).toEqual(['v2', 'v3']);
  });
});
