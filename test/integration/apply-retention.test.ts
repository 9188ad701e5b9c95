// Retention inside plan and apply: delete rows in the plan, deletion only after every build and
// push succeeded, nothing deleted when one failed. Real engine, real registry.
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../src/plan/model.js';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { arbor } from '../support/cli.js';
import { requireEngine } from '../support/engine.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { copyDefaultTree, removeLocalImages, type TreeCopy } from '../support/tree.js';
import { day, pushVersion } from './retention-fixtures.js';

let registry: TestRegistry;
let tree: TreeCopy;
let client: RegistryClient;

beforeAll(async () => {
  requireEngine();
  registry = await startRegistry();
  tree = await copyDefaultTree(registry.host);
  await tree.edit(
    'images.yaml',
    /retention:\n[\s\S]*$/,
    'retention:\n  - repositories: ["cron"]\n    keep_last: 2\n',
  );
  client = createRegistryClient({ registry: registry.host, insecure: true });
  // Four old releases of cron, created long ago (the grace period does not protect them).
  for (const [i, tag] of ['2024.1', '2024.2', '2024.3', '2024.4'].entries())
    await pushVersion(client, 'arbor-demo/cron', [tag], day(i * 30));
});

afterAll(async () => {
  await client?.close();
  if (registry) removeLocalImages(registry.host);
  await tree?.remove();
  if (registry) await destroyRegistry(registry);
});

const run = (...args: string[]) => arbor([...args, '-f', tree.file], { cwd: tree.dir });

function cronTags(): string[] {
  const out = execFileSync(
    'skopeo',
    ['list-tags', '--tls-verify=false', `docker://${registry.host}/arbor-demo/cron`],
    {
      encoding: 'utf8',
    },
  );
  return (JSON.parse(out) as { Tags: string[] }).Tags.sort();
}

describe('retention in plan and apply', () => {
  it('plans delete rows beside the builds', () => {
    const result = run('plan', '--format', 'json');
    expect(result.code, result.stderr).toBe(0);
    const plan = JSON.parse(result.stdout) as Plan;
    // Retention judges what the registry holds now: the tree's cron image is not pushed yet, so
    // keep_last 2 keeps 2024.4 and 2024.3, and the two older releases go.
    expect(plan.deletions.map((d) => d.tags).sort()).toEqual([['2024.1'], ['2024.2']]);
    expect(plan.deletions.every((d) => d.rule === 0 && d.repository.endsWith('/arbor-demo/cron'))).toBe(true);
    expect(plan.summary.delete).toBe(2);
    const text = run('plan');
    expect(text.stdout).toMatch(/- delete .*arbor-demo\/cron@[0-9a-f]{12} \(2024\.1\)/);
    expect(text.stdout).toContain('2 to delete');
    expect(run('plan', '--no-retention', '--format', 'json').stdout).toContain('"deletions": []');
  });

  it('deletes nothing when a build fails', async () => {
    await tree.edit('templates/nova-base.Dockerfile.njk', 'COPY nova.conf /etc/nova/nova.conf', 'RUN exit 7');
    const failed = run('apply', '--auto-approve');
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain(
      'Retention: 2 planned deletion(s) not made, because a build or push failed.',
    );
    // cron does not depend on nova-base: it was published under its fingerprint tag, but its
    // human tags wait for an apply that succeeds as a whole (atomic tags).
    expect(cronTags()).toEqual(['2024.1', '2024.2', '2024.3', '2024.4', expect.stringMatching(/^fp-/)]);
  });

  it('deletes after every build and push succeeded', async () => {
    // cron was pushed by the failed run (it does not depend on nova-base): now 2024.3 goes too.
    await tree.edit('templates/nova-base.Dockerfile.njk', 'RUN exit 7', 'COPY nova.conf /etc/nova/nova.conf');
    const applied = run('apply', '--auto-approve');
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('Retention: 3 deleted, 0 already gone, 0 aborted');
    expect(applied.stdout).toContain('garbage-collect');
    const tags = cronTags();
    expect(tags).not.toContain('2024.1');
    expect(tags).not.toContain('2024.3');
    expect(tags).toContain('2024.4');
    expect(run('plan', '--detailed-exitcode').code).toBe(0);
  });
});
