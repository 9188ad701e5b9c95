// Retention against a real registry (CNCF distribution on loopback): the plan's deletions are
// exactly what apply removes, kept and shared digests survive, multi-arch children survive, a
// tag pushed between plan and apply saves its digest, and a registry refusing deletion stops
// everything with a clear error.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTree } from '../../src/plan/desired.js';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { applyRetention, DeletionDisabledError } from '../../src/retention/apply.js';
import { planRetentionDetailed } from '../../src/retention/index.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { skopeoTags } from './registry-fixtures.js';
import { day, pushMultiArch, pushVersion, writeConfig } from './retention-fixtures.js';

let registry: TestRegistry;
let client: RegistryClient;

beforeAll(async () => {
  registry = await startRegistry();
  client = createRegistryClient({ registry: registry.host, insecure: true });
});

afterAll(async () => {
  await client?.close();
  if (registry) await destroyRegistry(registry);
});

async function plan(
  rules: string,
  protectedTags: Array<{ repository: string; tags: string[] }> = [],
  repositories?: string[],
) {
  const tree = await writeConfig(registry.host, rules);
  try {
    const { config } = await loadTree(tree.file);
    return await planRetentionDetailed(
      config,
      protectedTags,
      client,
      new Date(),
      repositories ? { repositories } : {},
    );
  } finally {
    await tree.remove();
  }
}

describe('retention on a real registry', () => {
  it('30 versions, keep_last 5 + ^stable-: exactly the newest 5 and the stable ones survive, shared digests too', async () => {
    const digests: string[] = [];
    for (let v = 1; v <= 30; v++) {
      const tags = [`v${v}`];
      if (v === 3 || v === 11) tags.push(`stable-${v}`); // a kept tag sharing the digest of an expired one
      digests.push(await pushVersion(client, 'ns/app', tags, day(v)));
    }
    const result = await plan(
      '  - repositories: ["app"]\n    keep_last: 5\n    keep_tags: ["^stable-"]',
      [],
      ['app'],
    );
    expect(result.diagnostics).toEqual([]);
    const planned = result.deletions.map((d) => d.digest).sort();
    const expectedGone = digests.filter((_, i) => ![3, 11, 26, 27, 28, 29, 30].includes(i + 1)).sort();
    expect(planned).toEqual(expectedGone);
    expect(
      result.deletions.every(
        (d) => d.repository === `${registry.host}/ns/app` && d.rule === 0 && d.bytesFreed > 2048,
      ),
    ).toBe(true);

    const applied = await applyRetention(result.deletions, client);
    expect(applied.results.map((r) => r.status)).toEqual(Array(23).fill('deleted'));
    expect(skopeoTags(`${registry.host}/ns/app`).sort()).toEqual(
      ['v3', 'stable-3', 'v11', 'stable-11', 'v26', 'v27', 'v28', 'v29', 'v30'].sort(),
    );
    for (const d of expectedGone) expect(await client.headManifest('ns/app', d)).toBeNull();
  });

  it("keeps a multi-arch index's children, and removes an old index (children only with delete_untagged)", async () => {
    const old = await pushMultiArch(client, 'ns/multi', 'm1', day(1));
    const mid = await pushMultiArch(client, 'ns/multi', 'm2', day(2));
    const current = await pushMultiArch(client, 'ns/multi', 'm3', day(3));
    const first = await plan('  - repositories: ["multi"]\n    keep_last: 2', [], ['multi']);
    expect(first.deletions.map((d) => d.digest)).toEqual([old.digest]);
    await applyRetention(first.deletions, client);
    expect(await client.headManifest('ns/multi', old.digest)).toBeNull();
    for (const child of [...old.children, ...mid.children, ...current.children])
      expect((await client.headManifest('ns/multi', child))?.digest).toBe(child);

    const second = await plan(
      '  - repositories: ["multi"]\n    keep_last: 1\n    delete_untagged: true',
      [],
      ['multi'],
    );
    // The first run's orphans (old's children) are invisible now: no tag and no index names them.
    expect(second.deletions.map((d) => d.digest).sort()).toEqual([mid.digest, ...mid.children].sort());
    const applied = await applyRetention(second.deletions, client);
    expect(applied.results.every((r) => r.status === 'deleted')).toBe(true);
    for (const child of current.children)
      expect((await client.headManifest('ns/multi', child))?.digest).toBe(child);
    expect(skopeoTags(`${registry.host}/ns/multi`)).toEqual(['m3']);
  });

  it('a tag pushed onto a planned digest between plan and apply saves it; a moved tag too; the rest goes', async () => {
    const a = await pushVersion(client, 'ns/race', ['r1'], day(1));
    const b = await pushVersion(client, 'ns/race', ['r2'], day(2));
    const c = await pushVersion(client, 'ns/race', ['r3'], day(3));
    await pushVersion(client, 'ns/race', ['r4'], day(4));
    const tree = await writeConfig(registry.host, '  - extra_repositories: ["ns/race"]\n    keep_last: 1');
    const { config } = await loadTree(tree.file);
    await tree.remove();
    const result = await planRetentionDetailed(config, [], client);
    expect(result.deletions.map((d) => d.digest).sort()).toEqual([a, b, c].sort());
    await client.tagManifest('ns/race', a, 'hotfix'); // a concurrent push of a new tag onto a
    const moved = await pushVersion(client, 'ns/race', ['r2'], day(5)); // r2 re-pushed: moved away from b
    const applied = await applyRetention(result.deletions, client);
    const status = Object.fromEntries(applied.results.map((r) => [r.deletion.digest, r]));
    expect(status[a]).toMatchObject({
      status: 'aborted',
      detail: 'tag hotfix points at it since the plan (written since the plan, so within the grace period)',
    });
    expect(status[b]!.status).toBe('aborted');
    expect(status[b]!.detail).toMatch(/^tag r2 now points at sha256:/);
    expect(status[c]!.status).toBe('deleted');
    expect(skopeoTags(`${registry.host}/ns/race`).sort()).toEqual(['hotfix', 'r1', 'r2', 'r4']);
    expect((await client.headManifest('ns/race', 'r2'))?.digest).toBe(moved);
    expect((await client.headManifest('ns/race', b))?.digest).toBe(b);
  });

  it('protects the tags images.yaml wants, whatever the rules', async () => {
    const wanted = await pushVersion(client, 'ns/app2', ['release'], day(1));
    await pushVersion(client, 'ns/app2', ['x1'], day(2));
    const newest = await pushVersion(client, 'ns/app2', ['x2'], day(3));
    const result = await plan('  - extra_repositories: ["ns/app2"]\n    keep_last: 1', [
      { repository: `${registry.host}/ns/app2`, tags: ['release'] },
    ]);
    expect(result.kept.map((k) => k.digest).sort()).toEqual([wanted, newest].sort());
    expect(result.kept.find((k) => k.digest === wanted)!.reasons).toEqual([
      'tag release is wanted by images.yaml',
    ]);
  });

  it('extra_repositories globs read the catalog across pages', async () => {
    await pushVersion(client, 'old-2023/svc-a', ['v1'], day(1));
    await pushVersion(client, 'old-2023/svc-a', ['v2'], day(2));
    await pushVersion(client, 'old-2023/svc-b', ['v1'], day(1));
    const result = await plan('  - extra_repositories: ["old-2023/*"]\n    allow_empty: true');
    expect(result.histories.map((h) => h.repository)).toEqual(['old-2023/svc-a', 'old-2023/svc-b']);
    expect(result.deletions).toHaveLength(3);
  });

  it('dry-run equals what apply deletes, over random histories', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            age: fc.integer({ min: 1, max: 60 }),
            tags: fc.subarray(['stable-a', 'keep-me', 'x', 'y'], { maxLength: 2 }),
          }),
          { minLength: 1, maxLength: 8 },
        ),
        fc.integer({ min: 0, max: 4 }),
        async (versions, keepLast) => {
          const repository = `ns/prop-${run++}`;
          const used = new Set<string>();
          const all: Array<{ digest: string; tags: string[] }> = [];
          for (const [i, v] of versions.entries()) {
            const tags = [`b${i}`, ...v.tags.filter((t) => !used.has(t))];
            for (const t of tags) used.add(t);
            all.push({ digest: await pushVersion(client, repository, tags, day(v.age)), tags });
          }
          const result = await plan(
            `  - extra_repositories: ["${repository}"]\n    keep_last: ${keepLast}\n    keep_tags: ["^stable-", "keep-me$"]\n    allow_empty: true`,
          );
          const planned = new Set(result.deletions.map((d) => d.digest));
          await applyRetention(result.deletions, client);
          const remainingTags = (await client.listTags(repository)).sort();
          const expectedTags = all.filter((a) => !planned.has(a.digest)).flatMap((a) => a.tags);
          // The last tag of a digest pushed twice points at the newest push; collapse by tag.
          const live = new Set<string>();
          for (const tag of new Set(expectedTags)) {
            const head = await client.headManifest(repository, tag);
            if (head) live.add(tag);
          }
          expect(remainingTags).toEqual([...live].sort());
          for (const d of planned) expect(await client.headManifest(repository, d)).toBeNull();
          for (const k of result.kept)
            expect((await client.headManifest(repository, k.digest))?.digest).toBe(k.digest);
        },
      ),
      { numRuns: 6 },
    );
  });
});

describe('retention on a registry with deletion disabled', () => {
  it('stops with a clear error and deletes nothing', async () => {
    const locked = await startRegistry({ deleteEnabled: false });
    const lockedClient = createRegistryClient({ registry: locked.host, insecure: true });
    try {
      for (let v = 1; v <= 4; v++) await pushVersion(lockedClient, 'ns/app', [`v${v}`], day(v));
      const tree = await writeConfig(locked.host, '  - repositories: ["app"]\n    keep_last: 1');
      const { config } = await loadTree(tree.file);
      await tree.remove();
      const result = await planRetentionDetailed(config, [], lockedClient);
      expect(result.deletions).toHaveLength(3);
      const failure = await applyRetention(result.deletions, lockedClient).catch((e) => e);
      expect(failure).toBeInstanceOf(DeletionDisabledError);
      expect(failure.message).toBe(
        `error: ${locked.host}/ns/app: the registry ${locked.host} refuses deletion (405/400): deletion is disabled there (CNCF distribution: storage.delete.enabled: true). Nothing more was deleted.`,
      );
      expect((await lockedClient.listTags('ns/app')).sort()).toEqual(['v1', 'v2', 'v3', 'v4']);
    } finally {
      await lockedClient.close();
      await destroyRegistry(locked);
    }
  });
});
