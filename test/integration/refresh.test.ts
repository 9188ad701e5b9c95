// Content fingerprints and `apply --refresh` end to end: the CLI, the real Docker engine, a real
// registry. The tree copy plays a team that rebuilds daily for distro fixes: `base` measures
// something that never changes (its busybox), `cron` installs "packages" from a package mirror
// on loopback (busybox httpd) during its build, as `apt-get upgrade` would. Publishing a new
// package on the mirror changes what a rebuild contains without changing any input, which is
// exactly what a refresh must find and push; an unchanged mirror must push nothing.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../src/plan/model.js';
import { arbor } from '../support/cli.js';
import { docker, requireEngine } from '../support/engine.js';
import {
  destroyRegistry,
  onFreePort,
  PortTakenError,
  startRegistry,
  type TestRegistry,
} from '../support/registry.js';
import { copyDefaultTree, removeLocalImages, requestsSince, type TreeCopy } from '../support/tree.js';

const CONTENT_LABEL = 'org.arbor.content-fingerprint';
const FINGERPRINTED = ['base', 'cron'];

let registry: TestRegistry;
let tree: TreeCopy;
let mirrorDir: string;
let mirror: ChildProcess | undefined;
let mirrorPort: number;

beforeAll(async () => {
  requireEngine();
  registry = await startRegistry();
  tree = await copyDefaultTree(registry.host);
  mirrorDir = await mkdtemp(join(tmpdir(), 'arbor-mirror-'));
  await publishPackages('openssl 3.0.15-1\nzlib 1.2.13\n');
  [mirror, mirrorPort] = await startMirror(mirrorDir);
  // RUN steps reach the mirror on the host's loopback: host network instead of none.
  await tree.edit('images.yaml', 'network: none', 'network: host');
  await tree.edit(
    'images.yaml',
    '    template: base.Dockerfile.njk\n',
    '    template: base.Dockerfile.njk\n    content_fingerprint:\n      command: "busybox | head -n 1; ls -la /bin | wc -l"\n',
  );
  await tree.edit(
    'images.yaml',
    '    platforms: [linux/amd64]\n',
    '    platforms: [linux/amd64]\n    content_fingerprint:\n      command: "cat /etc/installed-packages"\n',
  );
  await tree.edit(
    'templates/cron.Dockerfile.njk',
    'RUN mkdir -p /var/spool/cron/crontabs',
    `RUN wget -q -O /etc/installed-packages http://127.0.0.1:${mirrorPort}/packages\nRUN mkdir -p /var/spool/cron/crontabs`,
  );
});

afterAll(async () => {
  mirror?.kill();
  if (registry) removeEngineImages(registry.host);
  await tree?.remove();
  if (mirrorDir) await rm(mirrorDir, { recursive: true, force: true });
  if (registry) await destroyRegistry(registry);
});

/**
 * removeLocalImages, plus the `repo:<none>` rows a refresh leaves (a pulled image whose tags moved
 * to a rebuild keeps its repository but no tag): those can only be removed by id.
 */
function removeEngineImages(host: string): void {
  try {
    removeLocalImages(host);
  } catch {
    // It fails on the `<none>` rows; the tagged ones are gone, the rest go by id below.
  }
  const ids = docker(['images', '--format', '{{.Repository}} {{.ID}}'])
    .split('\n')
    .filter((line) => line.startsWith(`${host}/`))
    .map((line) => line.split(' ')[1]!);
  if (ids.length > 0) docker(['rmi', '-f', ...new Set(ids)]);
}

/** busybox httpd on a free port (it exits at once when another process took the port first). */
function startMirror(root: string): Promise<[ChildProcess, number]> {
  return onFreePort(async (port) => {
    const child = spawn('busybox', ['httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', root], {
      stdio: 'ignore',
    });
    const exited = await Promise.race([
      once(child, 'exit').then(() => true),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 500)),
    ]);
    if (exited) throw new PortTakenError(`busybox httpd exited with ${child.exitCode} on 127.0.0.1:${port}`);
    return [child, port];
  });
}

function publishPackages(list: string): Promise<void> {
  return writeFile(join(mirrorDir, 'packages'), list);
}

const run = (...args: string[]) => arbor([...args, '-f', tree.file], { cwd: tree.dir });

function plan(): Plan {
  const result = run('plan', '--format', 'json');
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Plan;
}

function inspect(name: string, tag: string): { Digest: string; Labels: Record<string, string> } {
  const out = execFileSync(
    'skopeo',
    ['inspect', '--tls-verify=false', `docker://${registry.host}/arbor-demo/${name}:${tag}`],
    { encoding: 'utf8' },
  );
  return JSON.parse(out) as { Digest: string; Labels: Record<string, string> };
}

/** Image repositories whose manifests were written since the mark (the release record's aside). */
async function manifestPutsSince(mark: number): Promise<string[]> {
  const lines = requestsSince(await registry.log(), mark, /"PUT \/v2\/arbor-demo\/[^/]+\/manifests\//);
  return [...new Set(lines.map((l) => /\/v2\/arbor-demo\/([^/]+)\/manifests/.exec(l)![1]!))]
    .filter((repository) => repository !== 'arbor-releases')
    .sort();
}

async function blobUploadsSince(mark: number): Promise<string[]> {
  return requestsSince(await registry.log(), mark, /"(POST|PATCH|PUT) \/v2\/[^"]*\/blobs\/uploads/).filter(
    (line) => !line.includes('/arbor-releases/'),
  );
}

const sha256 = /^sha256:[0-9a-f]{64}$/;

describe('content fingerprints and apply --refresh', () => {
  let first: Plan;

  it('stamps the content fingerprint label on every image that declares one, and only on those', () => {
    first = plan();
    const applied = run('apply', '--auto-approve');
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toContain('Apply: 10 built, 0 tagged, 0 failed, 0 skipped');

    for (const image of first.images) {
      for (const tag of [...image.tags, image.fingerprintTag]) {
        const pushed = inspect(image.name, tag);
        expect(pushed.Labels['org.arbor.fingerprint']).toBe(image.fingerprint);
        if (FINGERPRINTED.includes(image.name)) expect(pushed.Labels[CONTENT_LABEL]).toMatch(sha256);
        // Children of base inherit its labels through FROM: arbor empties the one that is not theirs.
        else expect(pushed.Labels[CONTENT_LABEL] ?? '').toBe('');
      }
    }
    expect(inspect('base', '2025.1').Labels[CONTENT_LABEL]).not.toBe(
      inspect('cron', '2025.1').Labels[CONTENT_LABEL],
    );
    expect(run('plan', '--detailed-exitcode').code).toBe(0);
  });

  it('--refresh with nothing changed rebuilds only the fingerprinted images and pushes nothing', async () => {
    const before = Object.fromEntries(FINGERPRINTED.map((n) => [n, inspect(n, '2025.1')]));
    const mark = (await registry.log()).length;
    const refreshed = run('apply', '--refresh', '--auto-approve');
    expect(refreshed.code, refreshed.stderr).toBe(0);
    expect(refreshed.stdout).toMatch(/^base\s+unchanged-content\s.*content unchanged, not pushed$/m);
    expect(refreshed.stdout).toMatch(/^cron\s+unchanged-content\s.*content unchanged, not pushed$/m);
    expect(refreshed.stdout).toContain(
      'Apply: 0 built, 0 tagged, 0 failed, 0 skipped, 2 content unchanged, 8 unchanged, 0 B uploaded.',
    );
    // Rebuilt without the layer cache: the progress lines say so.
    expect(refreshed.stderr).toMatch(/base: building without cache/);
    expect(refreshed.stderr).toMatch(/cron: building without cache/);
    expect(refreshed.stderr).not.toMatch(/keystone: building/);

    expect(await manifestPutsSince(mark)).toEqual([]);
    expect(await blobUploadsSince(mark)).toEqual([]);
    for (const name of FINGERPRINTED) expect(inspect(name, '2025.1')).toEqual(before[name]);
  });

  it('--refresh pushes an image whose content changed with the same inputs: new digest, new label, all tags', async () => {
    const cron = first.images.find((i) => i.name === 'cron')!;
    const before = inspect('cron', cron.fingerprintTag);
    const baseBefore = inspect('base', '2025.1');
    await publishPackages('openssl 3.0.15-2+deb12u1\nzlib 1.2.13\n');
    expect(plan().images.every((i) => i.action === 'none')).toBe(true);

    const mark = (await registry.log()).length;
    const refreshed = run('apply', '--refresh', '--auto-approve');
    expect(refreshed.code, refreshed.stderr).toBe(0);
    expect(refreshed.stdout).toMatch(/^cron\s+refreshed\s/m);
    expect(refreshed.stdout).toMatch(/^base\s+unchanged-content\s/m);
    expect(refreshed.stdout).toContain('1 refreshed, 1 content unchanged, 8 unchanged');
    expect(await manifestPutsSince(mark)).toEqual(['cron']);
    expect(await blobUploadsSince(mark)).not.toEqual([]);

    const after = inspect('cron', cron.fingerprintTag);
    expect(after.Digest).not.toBe(before.Digest);
    expect(after.Labels[CONTENT_LABEL]).toMatch(sha256);
    expect(after.Labels[CONTENT_LABEL]).not.toBe(before.Labels[CONTENT_LABEL]);
    // Same inputs, so the same input fingerprint; every tag names the new content.
    expect(after.Labels['org.arbor.fingerprint']).toBe(cron.fingerprint);
    for (const tag of cron.tags) expect(inspect('cron', tag).Digest).toBe(after.Digest);
    expect(inspect('base', '2025.1')).toEqual(baseBefore);

    // The fingerprint tag still says "up to date": a plain apply has nothing to do.
    expect(run('plan', '--detailed-exitcode').code).toBe(0);
  });
});
