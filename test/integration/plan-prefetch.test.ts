// The observation prefetch (src/plan/prefetch.ts) against a real registry: a plan sends the
// previous plan's HEADs before it has parsed images.yaml, and the plan it prints is exactly the
// plan it would print without them. Images are pushed by the registry client (no engine needed).
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../src/plan/model.js';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { arbor } from '../support/cli.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { copyDefaultTree, requestsSince, type TreeCopy } from '../support/tree.js';
import { pushImage } from './registry-fixtures.js';

let registry: TestRegistry;
let other: TestRegistry;
let tree: TreeCopy;
let client: RegistryClient;

beforeAll(async () => {
  [registry, other] = await Promise.all([startRegistry(), startRegistry()]);
  tree = await copyDefaultTree(registry.host);
  client = createRegistryClient({ registry: registry.host, insecure: true });
});

afterAll(async () => {
  await client?.close();
  await tree?.remove();
  await Promise.all([registry, other].filter(Boolean).map((r) => destroyRegistry(r)));
});

const LIST = () => join(tree.dir, '.arbor', 'cache', 'observe-prefetch.json');

function plan(...extra: string[]): { plan: Plan; stderr: string } {
  const result = arbor(['plan', '--format', 'json', '--debug', '-f', tree.file, ...extra], { cwd: tree.dir });
  expect(result.code, result.stderr).toBe(0);
  return { plan: JSON.parse(result.stdout) as Plan, stderr: result.stderr };
}

/** The plan without its creation time, for comparing two plans of the same state. */
function comparable(p: Plan): unknown {
  return { ...p, createdAt: undefined };
}

async function headsSince(r: TestRegistry, mark: number): Promise<string[]> {
  return requestsSince(await r.log(), mark, /"HEAD \/v2\//).map((l) => /"HEAD (\S+)/.exec(l)![1]!);
}

async function publish(p: Plan): Promise<void> {
  for (const image of p.images) {
    const path = image.repository.slice(registry.host.length + 1);
    const pushed = await pushImage(client, path, image.fingerprintTag, {
      labels: { 'org.arbor.fingerprint': image.fingerprint },
    });
    for (const tag of image.tags) await client.tagManifest(path, pushed.digest, tag);
  }
}

describe('plan prefetches the previous plan’s HEADs', () => {
  it('answers a no-op plan from the prefetch: every HEAD once, none wasted, the same plan', async () => {
    const first = plan();
    expect(first.stderr).not.toContain('prefetch:');
    await publish(first.plan);

    // The first plan after publishing still predicted every tag (it assumes an apply follows).
    const mark = (await registry.log()).length;
    const warm = plan();
    // Each image's fingerprint tag and tags, and the release's record (whether it is written).
    const wanted = warm.plan.images.reduce((n, i) => n + 1 + i.tags.length, 0) + 1;
    expect(warm.stderr).toContain(`prefetch: ${wanted} HEADs answered ahead of need, 0 sent for nothing`);
    expect(warm.plan.summary).toMatchObject({ build: 0, tag: 0 });
    const heads = await headsSince(registry, mark);
    expect(heads).toHaveLength(wanted);
    expect(new Set(heads).size).toBe(wanted);

    await rm(LIST(), { force: true });
    const cold = plan();
    expect(cold.stderr).not.toContain('prefetch:');
    expect(comparable(warm.plan)).toEqual(comparable(cold.plan));
  });

  it('after a change, the plan equals one made without prefetch, and the waste is counted', async () => {
    await tree.append('lists/nova.txt', 'oslo.messaging==14.9.1\n');
    plan(); // makes the list for this state (the first plan after an edit has the old one)
    const warm = plan();
    expect(warm.plan.summary.build).toBe(3);
    await rm(LIST(), { force: true });
    expect(comparable(warm.plan)).toEqual(comparable(plan().plan));

    // Without retention (which reads every tag, so uses every answer): a rebuilt image's tags
    // beyond the first are not read, so their prefetched HEADs were sent for nothing.
    const alone = plan('--no-retention');
    const rebuilt = alone.plan.images.filter((i) => i.action === 'build');
    expect(rebuilt.map((i) => i.name)).toEqual(['nova-base', 'nova-api', 'nova-scheduler']);
    const unused = rebuilt.reduce((n, i) => n + i.tags.length - 1, 0);
    expect(unused).toBeGreaterThan(0);
    expect(alone.stderr).toMatch(
      new RegExp(`prefetch: \\d+ HEADs answered ahead of need, ${unused} sent for nothing`),
    );
  });

  it('sends nothing ahead once images.yaml changed: never to a registry the file no longer names', async () => {
    plan(); // a list made for the first registry
    await tree.edit('images.yaml', `url: ${registry.host}`, `url: ${other.host}`);
    const mark = (await registry.log()).length;
    const moved = plan();
    expect(moved.stderr).not.toContain('prefetch:');
    expect(await headsSince(registry, mark)).toEqual([]);
    expect(moved.plan.summary.build).toBe(moved.plan.images.length);
    // The new list is for the new registry and text.
    const again = plan();
    expect(again.stderr).toContain('prefetch:');
    expect(await headsSince(registry, mark)).toEqual([]);
  });

  it('a selection (--only) neither uses nor replaces the list', async () => {
    const mark = (await other.log()).length;
    const only = plan('--only', 'keystone');
    expect(only.stderr).not.toContain('prefetch:');
    // ancestors + keystone, fingerprint tag and the first tag each (nothing is built there)
    expect((await headsSince(other, mark)).length).toBe(only.plan.images.length * 2);
    expect(plan().stderr).toMatch(/prefetch: \d+ HEADs answered ahead of need, \d+ sent for nothing/);
  });
});
