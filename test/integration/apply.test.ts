// plan and apply end to end: the CLI as users run it, the real Docker engine, a real registry.
// The tests run in order on one tree copy and one registry, each starting from the state the
// previous one left (as a team's tree evolves).
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../src/plan/model.js';
import { arbor, BIN } from '../support/cli.js';
import { requireEngine } from '../support/engine.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { copyDefaultTree, removeLocalImages, requestsSince, type TreeCopy } from '../support/tree.js';

const ALL = [
  'base',
  'openstack-base',
  'keystone-base',
  'keystone',
  'glance-base',
  'glance-api',
  'nova-base',
  'nova-api',
  'nova-scheduler',
  'cron',
];

let registry: TestRegistry;
let tree: TreeCopy;

beforeAll(async () => {
  requireEngine();
  registry = await startRegistry();
  tree = await copyDefaultTree(registry.host);
});

afterAll(async () => {
  if (registry) removeLocalImages(registry.host);
  await tree?.remove();
  if (registry) await destroyRegistry(registry);
});

const run = (...args: string[]) => arbor([...args, '-f', tree.file], { cwd: tree.dir });

function plan(): Plan {
  const result = run('plan', '--format', 'json');
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as Plan;
}

function actions(p: Plan): Record<string, string[]> {
  const by: Record<string, string[]> = { build: [], tag: [], none: [] };
  for (const image of p.images) by[image.action]!.push(image.name);
  return by;
}

function listTags(name: string): string[] {
  const out = execFileSync(
    'skopeo',
    ['list-tags', '--tls-verify=false', `docker://${registry.host}/arbor-demo/${name}`],
    { encoding: 'utf8' },
  );
  return (JSON.parse(out) as { Tags: string[] }).Tags.sort();
}

function label(name: string, tag: string, key: string): string | undefined {
  const out = execFileSync(
    'skopeo',
    ['inspect', '--tls-verify=false', `docker://${registry.host}/arbor-demo/${name}:${tag}`],
    { encoding: 'utf8' },
  );
  return (JSON.parse(out) as { Labels: Record<string, string> }).Labels[key];
}

/** Image repositories whose manifests were written since the mark (the release record's aside). */
async function manifestPutsSince(mark: number): Promise<string[]> {
  const lines = requestsSince(await registry.log(), mark, /"PUT \/v2\/arbor-demo\/[^/]+\/manifests\//);
  return [...new Set(lines.map((l) => /\/v2\/arbor-demo\/([^/]+)\/manifests/.exec(l)![1]!))]
    .filter((repository) => repository !== 'arbor-releases')
    .sort();
}

/** Blob uploads into image repositories since the mark (the release record's two small blobs aside). */
async function blobUploadsSince(mark: number): Promise<string[]> {
  return requestsSince(await registry.log(), mark, /"(POST|PATCH|PUT) \/v2\/[^"]*\/blobs\/uploads/).filter(
    (line) => !line.includes('/arbor-demo/arbor-releases/'),
  );
}

describe('plan and apply on the default tree', () => {
  it('builds and pushes every image, then plans no changes', async () => {
    const first = plan();
    expect(actions(first).build).toEqual(ALL);
    expect(first.images.find((i) => i.name === 'base')!.reasons).toEqual(['not in registry']);

    const applied = run('apply', '--auto-approve', '--concurrency', '2');
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('Apply: 10 built, 0 tagged, 0 failed, 0 skipped');

    for (const image of first.images) {
      expect(listTags(image.name)).toEqual([...image.tags, image.fingerprintTag].sort());
      expect(label(image.name, image.fingerprintTag, 'org.arbor.fingerprint')).toBe(image.fingerprint);
    }
    const again = run('plan', '--detailed-exitcode');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('No changes: 0 to build, 0 to tag, 10 unchanged.');
  });

  it('rebuilds exactly a changed mid-level image and its descendants, and pushes only those', async () => {
    await tree.append('lists/nova.txt', 'oslo.messaging==14.9.1\n');
    const p = plan();
    expect(actions(p)).toEqual({
      build: ['nova-base', 'nova-api', 'nova-scheduler'],
      tag: [],
      none: ALL.filter((n) => !n.startsWith('nova')),
    });
    expect(p.images.find((i) => i.name === 'nova-base')!.reasons).toEqual(['input lists/nova.txt changed']);
    expect(p.images.find((i) => i.name === 'nova-api')!.reasons).toEqual(['parent nova-base is rebuilt']);
    expect(run('plan', '--detailed-exitcode').code).toBe(2);

    const mark = (await registry.log()).length;
    const applied = run('apply', '--auto-approve');
    expect(applied.code, applied.stderr).toBe(0);
    expect(await manifestPutsSince(mark)).toEqual(['nova-api', 'nova-base', 'nova-scheduler']);
    expect(actions(plan()).build).toEqual([]);
  });

  it('adds a new tag template by manifest copy only: every image tagged, zero blob bytes uploaded', async () => {
    await tree.edit(
      'images.yaml',
      '  - "{{ release }}-p{{ patch }}"\n',
      '  - "{{ release }}-p{{ patch }}"\n  - "{{ release }}-current"\n',
    );
    const p = plan();
    expect(actions(p).tag).toEqual(ALL);
    expect(p.images[0]!.reasons).toEqual(['new tag 2025.1-current requested']);

    const mark = (await registry.log()).length;
    const applied = run('apply', '--auto-approve');
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain(
      'Apply: 0 built, 10 tagged, 0 failed, 0 skipped, 0 unchanged, 0 B uploaded.',
    );
    expect(await blobUploadsSince(mark)).toEqual([]);
    // The release takes its name from the last tag template, now 2025.1-current.
    expect(applied.stdout).toMatch(/^Release 2025\.1-current recorded: /m);
    expect(listTags('keystone')).toContain('2025.1-current');
    expect(await manifestPutsSince(mark)).toEqual([...ALL].sort());
  });

  it('treats a new patch level as tags on the same images, not rebuilds', async () => {
    await tree.edit('images.yaml', 'patch: 5', 'patch: 6');
    const p = plan();
    expect(actions(p).tag).toEqual(ALL);
    expect(p.images.find((i) => i.name === 'keystone')!.reasons).toEqual(['new tag 2025.1-p6 requested']);
    const mark = (await registry.log()).length;
    const applied = run('apply', '--auto-approve');
    expect(applied.code, applied.stderr).toBe(0);
    expect(await blobUploadsSince(mark)).toEqual([]);
    expect(label('keystone', '2025.1-p6', 'org.arbor.fingerprint')).toBe(
      p.images.find((i) => i.name === 'keystone')!.fingerprint,
    );
  });

  it('skips the descendants of a failed build, pushes its siblings, exits 1, and a rerun after the fix builds only what is left', async () => {
    await tree.edit(
      'templates/nova-base.Dockerfile.njk',
      'COPY nova.conf /etc/nova/nova.conf',
      'COPY nova.conf /etc/nova/nova.conf\nRUN echo "broken on purpose" && exit 3',
    );
    await tree.append('lists/glance.txt', 'glance-store==4.8.1\n');
    const failed = run('apply', '--auto-approve');
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/^nova-base\s+failed\s.*exited with code/m);
    expect(failed.stdout).toMatch(/^nova-api\s+skipped\s+parent nova-base failed/m);
    expect(failed.stdout).toMatch(/^nova-scheduler\s+skipped\s+parent nova-base failed/m);
    // The table says which tags were written (the fingerprint tag) and which are held back.
    expect(failed.stdout).toMatch(
      /^glance-base\s+built\s.*\+ fp-[0-9a-f]+; held back: 2025\.1, 2025\.1-p\d+, 2025\.1-current$/m,
    );
    expect(failed.stdout).toMatch(/^glance-api\s+built/m);
    expect(failed.stderr).toContain('broken on purpose');
    // Atomic tags: the siblings are published under their fingerprint tags, no human tag moved.
    expect(failed.stdout).toMatch(/^Tags: none moved \(\d+ held back\): an image failed/m);

    await tree.edit('templates/nova-base.Dockerfile.njk', '\nRUN echo "broken on purpose" && exit 3', '');
    const left = plan();
    expect(actions(left).build).toEqual([]);
    // What was published is not built again; only its tags are left to move.
    expect(actions(left).tag).toEqual(['glance-base', 'glance-api']);
    await tree.edit('templates/nova-base.Dockerfile.njk', 'COPY nova.conf', 'COPY  nova.conf');
    expect(actions(plan()).build).toEqual(['nova-base', 'nova-api', 'nova-scheduler']);
    const fixed = run('apply', '--auto-approve');
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.stdout).toContain('Apply: 3 built, 2 tagged, 0 failed, 0 skipped, 5 unchanged');
    expect(fixed.stdout).toMatch(/^Tags: \d+ written together in [\d.]+ ms\.$/m);
    expect(run('plan', '--detailed-exitcode').code).toBe(0);
  });

  it('refuses a saved plan whose inputs or registry tags changed since it was made', async () => {
    await tree.append('lists/keystone.txt', 'keystonemiddleware==10.9.0\n');
    const planFile = join(tree.dir, 'plan.json');
    expect(run('plan', '--out', planFile).code).toBe(0);

    await tree.append('lists/keystone.txt', 'pycadf==4.0.0\n');
    const stale = run('apply', planFile);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toContain('the saved plan is stale');
    expect(stale.stderr).toMatch(/image keystone-base: fingerprint changed since the plan/);

    // Someone else applies first: the tags the plan would write now exist.
    expect(run('plan', '--out', planFile).code).toBe(0);
    expect(run('apply', '--auto-approve').code).toBe(0);
    const moved = run('apply', planFile);
    expect(moved.code).toBe(1);
    expect(moved.stderr).toMatch(
      /arbor-demo\/keystone-base:fp-[0-9a-f]{24}: moved since the plan \(absent → [0-9a-f]{12}\)/,
    );
  });

  it('applies a fresh saved plan exactly', async () => {
    await tree.append('images/keystone/keystone.conf', '\n# saved-plan test\n');
    const planFile = join(tree.dir, 'plan2.json');
    expect(run('plan', '--out', planFile).code).toBe(0);
    const mark = (await registry.log()).length;
    const applied = run('apply', planFile);
    expect(applied.code, applied.stderr).toBe(0);
    expect(await manifestPutsSince(mark)).toEqual(['keystone']);
  });

  it('stops on Ctrl-C, reports, and a rerun converges without redoing what was pushed', async () => {
    await tree.edit('templates/nova-api.Dockerfile.njk', 'EXPOSE 8774', 'RUN sleep 60\nEXPOSE 8774');
    await tree.append('lists/openstack-base.txt', '# ctrl-c test\n');
    const child = spawn(
      process.execPath,
      [BIN, 'apply', '--auto-approve', '--concurrency', '1', '-f', tree.file],
      {
        cwd: tree.dir,
        env: { ...process.env, NO_COLOR: '1' },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (/nova-api: build/.test(stderr) && !child.killed) child.kill('SIGINT');
    });
    const [code] = (await once(child, 'exit')) as [number];
    // 128 + SIGINT, as shells report an interrupted command.
    expect(code).toBe(130);
    expect(stderr).toContain('Interrupted');
    expect(stdout).toMatch(/^nova-api\s+(failed|cancelled)/m);

    await tree.edit('templates/nova-api.Dockerfile.njk', 'RUN sleep 60\n', '');
    const left = plan();
    // What finished before Ctrl-C is in the registry with its fingerprint tag and is not redone.
    expect(actions(left).build).toContain('nova-api');
    expect(actions(left).build).not.toContain('openstack-base');
    const rerun = run('apply', '--auto-approve');
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(run('plan', '--detailed-exitcode').code).toBe(0);
  });
});
