// apply through the buildah builder, end to end: the default tree built daemonless (vfs storage,
// no Docker engine involved), children FROM their parent's fingerprint tag in buildah's own
// storage, pushed to a plain-HTTP test registry, and one image with a content fingerprint (run in
// the built image with `buildah run`, stamped by a second, metadata-only build).
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storageDriver } from '../../src/execute/builders/containers-storage.js';
import type { Plan } from '../../src/plan/model.js';
import { arbor } from '../support/cli.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { copyDefaultTree, requestsSince, type TreeCopy } from '../support/tree.js';

let registry: TestRegistry;
let tree: TreeCopy;

beforeAll(async () => {
  execFileSync('buildah', ['--version']);
  registry = await startRegistry();
  tree = await copyDefaultTree(registry.host);
  await tree.edit(
    'images.yaml',
    '    template: base.Dockerfile.njk\n',
    '    template: base.Dockerfile.njk\n    content_fingerprint:\n      command: "busybox | head -n 1; ls /bin | wc -l"\n',
  );
});

afterAll(async () => {
  if (registry) removeBuildahImages(registry.host);
  await tree?.remove();
  if (registry) await destroyRegistry(registry);
});

/** Every image of this test's registry in buildah's storage, so runs do not fill the disk. */
function removeBuildahImages(host: string): void {
  const storage = ['--storage-driver', storageDriver()];
  const ids = execFileSync('buildah', [...storage, 'images', '--format', '{{.ID}} {{.Name}}'], {
    encoding: 'utf8',
  })
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([, name]) => name?.startsWith(`${host}/`))
    .map(([id]) => id!);
  if (ids.length > 0)
    execFileSync('buildah', [...storage, 'rmi', '-f', ...new Set(ids)], { stdio: 'ignore' });
}

const run = (...args: string[]) => arbor([...args, '-f', tree.file], { cwd: tree.dir });

function inspect(name: string, tag: string): { Digest: string; Labels: Record<string, string> } {
  const out = execFileSync(
    'skopeo',
    ['inspect', '--tls-verify=false', `docker://${registry.host}/arbor-demo/${name}:${tag}`],
    { encoding: 'utf8' },
  );
  return JSON.parse(out) as { Digest: string; Labels: Record<string, string> };
}

function listTags(name: string): string[] {
  const out = execFileSync(
    'skopeo',
    ['list-tags', '--tls-verify=false', `docker://${registry.host}/arbor-demo/${name}`],
    { encoding: 'utf8' },
  );
  return (JSON.parse(out) as { Tags: string[] }).Tags.sort();
}

describe('apply --builder buildah', () => {
  it('builds and pushes the whole tree: every tag present, every image labelled with its fingerprint', async () => {
    const planned = run('plan', '--format', 'json');
    expect(planned.code, planned.stderr).toBe(0);
    const plan = JSON.parse(planned.stdout) as Plan;
    expect(plan.images.every((i) => i.action === 'build')).toBe(true);

    const mark = (await registry.log()).length;
    const applied = run('apply', '--auto-approve', '--builder', 'buildah', '--concurrency', '2');
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    expect(applied.stdout).toContain(`Apply: ${plan.images.length} built, 0 tagged, 0 failed, 0 skipped`);
    // Built by buildah, published by arbor (the access log ends with the User-Agent): every blob
    // and manifest went up through arbor's client, buildah and the engine pushed nothing.
    const log = await registry.log();
    const uploads = requestsSince(log, mark, /"(PUT|POST|PATCH) \/v2\//);
    const by = (agent: RegExp) => uploads.filter((line) => agent.test(line)).length;
    expect(uploads.length).toBeGreaterThan(0);
    expect(by(/"arbor\/[^"]+"$/)).toBe(uploads.length);
    // Per image: the manifest by digest, its fingerprint tag, and each human tag.
    const manifestPuts = requestsSince(log, mark, /"PUT \/v2\/[^"]*\/manifests\//).filter(
      (line) => !line.includes('/arbor-releases/'),
    );
    expect(manifestPuts).toHaveLength(plan.images.reduce((n, i) => n + 2 + i.tags.length, 0));

    for (const image of plan.images) {
      expect(listTags(image.name)).toEqual([...image.tags, image.fingerprintTag].sort());
      const atFingerprint = inspect(image.name, image.fingerprintTag);
      expect(atFingerprint.Labels['org.arbor.fingerprint']).toBe(image.fingerprint);
      for (const tag of image.tags) expect(inspect(image.name, tag).Digest).toBe(atFingerprint.Digest);
    }
    // The content fingerprint ran in the buildah-built image and was stamped before the push.
    expect(inspect('base', '2025.1').Labels['org.arbor.content-fingerprint']).toMatch(
      /^sha256:[0-9a-f]{64}$/,
    );
    expect(inspect('keystone', '2025.1').Labels['org.arbor.content-fingerprint']).toBe('');

    const again = run('plan', '--detailed-exitcode');
    expect(again.code, again.stdout).toBe(0);
  });

  it('--refresh rebuilds the fingerprinted image without cache in buildah and pushes nothing when its content is the same', async () => {
    const before = inspect('base', '2025.1');
    const mark = (await registry.log()).length;
    const refreshed = run('apply', '--refresh', '--auto-approve', '--builder', 'buildah');
    expect(refreshed.code, `${refreshed.stdout}\n${refreshed.stderr}`).toBe(0);
    expect(refreshed.stdout).toMatch(/^base\s+unchanged-content\s.*content unchanged, not pushed$/m);
    expect(refreshed.stderr).toContain('base: building without cache');
    expect(requestsSince(await registry.log(), mark, /"(PUT|POST|PATCH) \/v2\//)).toEqual([]);
    expect(inspect('base', '2025.1')).toEqual(before);
  });
});
