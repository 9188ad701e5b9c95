// The registry digest cache and tag hints in retention planning, against a real registry: a first
// plan with the cache sends exactly the requests a plan without it sends (one GET per tag, no
// HEAD); a second plan over the same repositories only lists tags and HEADs them (counted in the
// registry's access log) and gives the same deletions; a damaged entry is fetched again and
// repaired; a tag moved to new content is seen live, whatever its hint says. Also through the
// built CLI (`arbor retention plan`), whose cache lives in the tree.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/model.js';
import { loadTree } from '../../src/plan/desired.js';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { registryCacheDir } from '../../src/registry/digest-cache.js';
import { planRetentionDetailed } from '../../src/retention/index.js';
import { arbor } from '../support/cli.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { day, pushMultiArch, pushVersion, writeConfig } from './retention-fixtures.js';

let registry: TestRegistry;
let setup: RegistryClient;

const RULES = [
  '  - repositories: ["app"]',
  '    keep_last: 3',
  '    keep_tags: ["^stable-"]',
  '  - repositories: ["multi"]',
  '    keep_last: 1',
  '    delete_untagged: true',
].join('\n');

beforeAll(async () => {
  registry = await startRegistry();
  setup = createRegistryClient({ registry: registry.host, insecure: true });
  for (let v = 1; v <= 10; v++) {
    const tags = [`v${v}`];
    if (v === 2) tags.push('stable-2');
    await pushVersion(setup, 'ns/app', tags, day(v));
  }
  for (let m = 1; m <= 3; m++) await pushMultiArch(setup, 'ns/multi', `m${m}`, day(m));
});

afterAll(async () => {
  await setup?.close();
  if (registry) await destroyRegistry(registry);
});

/** `METHOD kind` per request in the access log after byte `offset` (kind: manifests, blobs, tags/list…). */
function requestKinds(log: string, offset: number): string[] {
  const kinds: string[] = [];
  for (const line of log.slice(offset).split('\n')) {
    const m = /"([A-Z]+) \/v2\/(\S*) HTTP\/[\d.]+"/.exec(line);
    if (!m) continue;
    const target = m[2]!;
    const kind = /\/manifests\//.test(target)
      ? 'manifests'
      : /\/blobs\//.test(target)
        ? 'blobs'
        : /\/tags\/list/.test(target)
          ? 'tags/list'
          : target || '/v2/';
    kinds.push(`${m[1]} ${kind}`);
  }
  return kinds.sort();
}

/** The requests one plan made, from the log; waits until the log holds as many as the client sent. */
async function planCounted(config: Config, cacheDir?: string | false) {
  const client = createRegistryClient({ registry: registry.host, insecure: true });
  const offset = (await registry.log()).length;
  try {
    const plan = await planRetentionDetailed(
      config,
      [],
      client,
      new Date(),
      cacheDir === undefined ? {} : { cacheDir },
    );
    const sent = client.stats.requests;
    const deadline = Date.now() + 5_000;
    let kinds = requestKinds(await registry.log(), offset);
    while (kinds.length < sent && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      kinds = requestKinds(await registry.log(), offset);
    }
    expect(kinds.length).toBe(sent);
    return { plan, kinds, deletions: plan.deletions.map((d) => `${d.repository}@${d.digest}`).sort() };
  } finally {
    await client.close();
  }
}

const count = (kinds: string[], kind: string) => kinds.filter((k) => k === kind).length;

describe('retention with the registry digest cache', () => {
  it('cold: the same requests as without a cache; warm: only tag lists and HEADs, same deletions', async () => {
    const tree = await writeConfig(registry.host, RULES);
    try {
      const { config } = await loadTree(tree.file);
      const uncached = await planCounted(config, false);
      const cold = await planCounted(config);
      const warm = await planCounted(config);

      // app: v1, v3–v7 expire (v8–v10 are the newest 3, v2 is stable-2); multi: m1, m2 and their children.
      expect(uncached.deletions.length).toBe(12);
      expect(cold.deletions).toEqual(uncached.deletions);
      expect(warm.deletions).toEqual(uncached.deletions);
      expect(warm.plan.kept).toEqual(uncached.plan.kept);
      // Same observation (artifact order follows response order, so compare by digest).
      const byDigest = (h: typeof warm.plan.histories) =>
        h.map((r) => ({
          ...r,
          artifacts: [...r.artifacts].sort((a, b) => a.digest.localeCompare(b.digest)),
        }));
      expect(byDigest(warm.plan.histories)).toEqual(byDigest(uncached.plan.histories));

      expect(cold.kinds).toEqual(uncached.kinds);
      // No hints yet: 11 app tags + 3 multi tags read with one GET each (v2 and stable-2 share a
      // manifest), then the 6 children by digest; 16 configs. A HEAD first would make it 14 + 19.
      expect(count(cold.kinds, 'HEAD manifests')).toBe(0);
      expect(count(cold.kinds, 'GET manifests')).toBe(20);
      expect(count(cold.kinds, 'GET blobs')).toBe(16);

      expect(new Set(warm.kinds)).toEqual(new Set(['GET tags/list', 'HEAD manifests']));
      expect(count(warm.kinds, 'HEAD manifests')).toBe(14);
      expect(count(warm.kinds, 'GET tags/list')).toBe(count(cold.kinds, 'GET tags/list'));

      // The cache lives in the tree: 19 manifests + 16 configs, one file each.
      const cacheFiles = await readdir(registryCacheDir(tree.dir), { recursive: true, withFileTypes: true });
      expect(cacheFiles.filter((e) => e.isFile() && /^[0-9a-f]{64}$/.test(e.name)).length).toBe(35);
    } finally {
      await tree.remove();
    }
  });

  it('a damaged entry is fetched again (and repaired); a tag moved to new content is read live', async () => {
    const tree = await writeConfig(registry.host, RULES);
    try {
      const { config } = await loadTree(tree.file);
      const cold = await planCounted(config);
      // Damage the cached manifest of the newest app version (flip one byte of its JSON).
      const newest = (await setup.headManifest('ns/app', 'v10'))!.digest;
      const file = path.join(registryCacheDir(tree.dir), 'sha256', newest.slice(7, 9), newest.slice(7));
      const bytes = await readFile(file);
      bytes.writeUInt8(bytes.readUInt8(bytes.length - 3) ^ 0x20, bytes.length - 3);
      await writeFile(file, bytes);

      const repaired = await planCounted(config);
      expect(count(repaired.kinds, 'GET manifests')).toBe(1);
      expect(count(repaired.kinds, 'GET blobs')).toBe(0);
      expect(repaired.deletions).toEqual(cold.deletions);
      const again = await planCounted(config);
      expect(count(again.kinds, 'GET manifests')).toBe(0);

      // A new version: its tag is read with one GET (no hint), its config fetched; v8 now expires too.
      const v11 = await pushVersion(setup, 'ns/app', ['v11'], day(11));
      const v8 = (await setup.headManifest('ns/app', 'v8'))!.digest;
      const added = await planCounted(config);
      expect(count(added.kinds, 'GET manifests')).toBe(1);
      expect(count(added.kinds, 'HEAD manifests')).toBe(14);
      expect(count(added.kinds, 'GET blobs')).toBe(1);
      const digests = added.plan.deletions.map((d) => d.digest);
      expect(digests).toContain(v8);
      expect(digests).not.toContain(v11);
      expect(added.deletions.length).toBe(cold.deletions.length + 1);

      // stable-2 re-tagged onto v11's content: its hint still names v2's digest, which is cached,
      // so it is HEADed, and the HEAD's answer counts. v2 loses its keep and expires.
      const v2 = (await setup.headManifest('ns/app', 'v2'))!.digest;
      await setup.tagManifest('ns/app', 'v11', 'stable-2');
      const retagged = await planCounted(config);
      expect(count(retagged.kinds, 'GET manifests')).toBe(0);
      const after = retagged.plan.deletions.map((d) => d.digest);
      expect(after).toContain(v2);
      expect(after).not.toContain(v11);
      const kept = retagged.plan.kept.find((k) => k.digest === v11)!;
      expect(kept.tags).toEqual(['stable-2', 'v11']);
    } finally {
      await tree.remove();
    }
  });

  it('a tag written onto an old image between two plans keeps it for the grace period', async () => {
    const digests: string[] = [];
    for (let v = 1; v <= 4; v++) digests.push(await pushVersion(setup, 'ns/promo', [`p${v}`], day(v)));
    const tree = await writeConfig(registry.host, '  - extra_repositories: ["ns/promo"]\n    keep_last: 1');
    try {
      const { config } = await loadTree(tree.file);
      const client = createRegistryClient({ registry: registry.host, insecure: true });
      try {
        const gone = async (at: Date) =>
          (await planRetentionDetailed(config, [], client, at)).deletions.map((d) => d.digest).sort();
        const first = new Date();
        expect(await gone(first)).toEqual(digests.slice(0, 3).sort());
        // A promotion: the oldest image gets a new tag. Its creation time says nothing of that.
        await setup.tagManifest('ns/promo', 'p1', 'prod');
        const second = new Date(first.getTime() + 60_000);
        const plan = await planRetentionDetailed(config, [], client, second);
        expect(plan.deletions.map((d) => d.digest).sort()).toEqual(digests.slice(1, 3).sort());
        expect(plan.kept.find((k) => k.digest === digests[0])!.reasons).toEqual([
          `tag prod was written onto it recently (first seen there by arbor at ${second.toISOString()}, absent at its look before): kept for the grace period (1h)`,
        ]);
        // Seen again unchanged a minute later: still the first sighting's time. Past the hour: expired.
        const third = await planRetentionDetailed(config, [], client, new Date(second.getTime() + 60_000));
        expect(third.kept.find((k) => k.digest === digests[0])!.reasons[0]).toContain(second.toISOString());
        expect(await gone(new Date(second.getTime() + 3_600_000))).toEqual(digests.slice(0, 3).sort());
      } finally {
        await client.close();
      }
    } finally {
      await tree.remove();
    }
  });

  it('`arbor retention plan` twice: the second run reads only tag lists and HEADs, same JSON', async () => {
    const tree = await writeConfig(registry.host, RULES);
    try {
      const run = () => arbor(['retention', 'plan', '-f', tree.file, '--format', 'json'], { cwd: tree.dir });
      const first = run();
      expect(first.code, first.stderr).toBe(0);
      const offset = (await registry.log()).length;
      const second = run();
      expect(second.code, second.stderr).toBe(0);
      expect(JSON.parse(second.stdout)).toEqual(JSON.parse(first.stdout));
      expect(JSON.parse(first.stdout).deletions.length).toBeGreaterThan(0);
      // The CLI process has exited: its requests are all in the log by now, give or take a flush.
      await new Promise((r) => setTimeout(r, 200));
      const kinds = requestKinds(await registry.log(), offset);
      expect(kinds.length).toBeGreaterThan(0);
      expect(new Set(kinds.filter((k) => k !== 'GET /v2/'))).toEqual(
        new Set(['GET tags/list', 'HEAD manifests']),
      );
    } finally {
      await tree.remove();
    }
  });
});
