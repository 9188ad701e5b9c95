// apply against a registry that misbehaves, at the wire: a fault proxy in front of a real registry
// with token auth whose tokens live 5 seconds answers a fifth of the requests 429 or 503, cuts a
// tenth of the answers in the middle of their body and sends bodies slowly; the registry is
// restarted in the middle of an apply, goes away for good, fills its disk; two applies of the
// same tree run at once. Every time: each image intact or not there at all, no human tag on an
// image that is not complete, and the next apply (or plan) converges.
import { execFileSync } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../src/plan/model.js';
import { BIN } from '../support/cli.js';
import { dockerConfigFor } from '../support/docker-config.js';
import { docker, requireEngine } from '../support/engine.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { createCa, issueCertificate } from '../support/tls.js';
import { everything, startTokenServer, type TokenServer } from '../support/token-server.js';
import { copyDefaultTree, removeLocalImages, type TreeCopy } from '../support/tree.js';

const USER = 'ci';
const PASSWORD = 'ci-Pa55word-faults';

/** The CLI as a child process, without blocking this process (proxy and token server live here). */
async function arbor(tree: TreeCopy, args: string[], env: Record<string, string> = {}) {
  const result = await execa(process.execPath, [BIN, ...args, '-f', tree.file], {
    cwd: tree.dir,
    env: { NO_COLOR: '1', CI: '1', ...env },
    reject: false,
  });
  return { code: result.exitCode ?? 1, stdout: result.stdout, stderr: result.stderr };
}

/** skopeo without blocking this process: the fault proxy and the token server live in it. */
async function skopeo(args: string[]): Promise<string> {
  return (await execa('skopeo', args)).stdout;
}

/** Every tag of every image of the plan: the human tags name the fingerprint tag's digest. */
async function expectConsistent(host: string, plan: Plan, creds?: string): Promise<void> {
  const auth = creds ? ['--creds', creds] : [];
  for (const image of plan.images) {
    const ref = (tag: string) => `docker://${host}/arbor-demo/${image.name}:${tag}`;
    const digest = async (tag: string) =>
      (JSON.parse(await skopeo(['inspect', '--tls-verify=false', ...auth, ref(tag)])) as { Digest: string })
        .Digest;
    const atFingerprint = await digest(image.fingerprintTag);
    for (const tag of image.tags) expect(await digest(tag), `${image.name}:${tag}`).toBe(atFingerprint);
  }
}

describe('apply through faults at the wire (token auth, 5-second tokens)', () => {
  let tokens: TokenServer;
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let tree: TreeCopy;
  let dockerConfig: string;

  beforeAll(async () => {
    requireEngine();
    const ca = createCa();
    tokens = await startTokenServer({
      signing: issueCertificate(ca, 'token-signer'),
      users: { [USER]: { password: PASSWORD, rights: everything } },
      expiresIn: 5,
    });
    registry = await startRegistry({ extraConfig: tokens.registryAuthConfig(ca) });
    proxy = await startFaultProxy(registry.port);
    tree = await copyDefaultTree(proxy.host);
    dockerConfig = await dockerConfigFor(proxy.host, USER, PASSWORD);
  });

  afterAll(async () => {
    await proxy?.stop();
    await tokens?.close();
    if (registry) await destroyRegistry(registry);
    if (proxy) removeLocalImages(proxy.host);
    await tree?.remove();
    if (dockerConfig) await rm(dockerConfig, { recursive: true, force: true });
  });

  it('completes with every image intact, uploading at most 1.1 × a clean run; plan then sees no change', async () => {
    const env = { DOCKER_CONFIG: dockerConfig };
    // The clean run, for the byte count: the whole tree built and pushed with no fault.
    const clean = await arbor(tree, ['apply', '--auto-approve'], env);
    expect(clean.code, `${clean.stdout}\n${clean.stderr}`).toBe(0);
    const cleanBytes = proxy.bytesToRegistry;

    // A new patch level and a changed mid-level input: tags for everything, builds for a subtree.
    await tree.edit('images.yaml', 'patch: 5', 'patch: 6');
    await tree.append('lists/openstack-base.txt', '# faults\n');
    proxy.chaos({
      seed: 7,
      failRate: 0.2,
      statuses: [429, 503],
      retryAfter: '0',
      cutRate: 0.1,
      // At least one cut whatever number of answers the rate happens to reach.
      cutFirst: { answers: 1 },
      slowBytesPerSecond: 4 * 1024 * 1024,
    });
    const before = proxy.bytesToRegistry;
    const chaotic = await arbor(tree, ['apply', '--auto-approve'], env);
    const planAfter = await arbor(tree, ['plan', '--format', 'json'], env);
    proxy.chaos(null);
    expect(chaotic.code, `${chaotic.stdout}\n${chaotic.stderr}`).toBe(0);
    expect(proxy.injected.failed).toBeGreaterThan(10);
    expect(proxy.injected.cut).toBeGreaterThan(0);
    expect(planAfter.code, planAfter.stderr).toBe(0);
    const plan = JSON.parse(planAfter.stdout) as Plan;
    expect(plan.summary).toMatchObject({ build: 0, tag: 0 });
    await expectConsistent(proxy.host, plan, `${USER}:${PASSWORD}`);
    // The rebuilt subtree is smaller than the whole tree: its upload stays under a clean full run.
    expect(proxy.bytesToRegistry - before).toBeLessThanOrEqual(1.1 * cleanBytes);
    // Tokens expired during the runs (5 s) and were renewed: more than one was issued.
    expect(tokens.issued.length).toBeGreaterThan(1);
  });

  it('a parent the registry refuses: its children build but stay unpublished, other branches publish, no human tag moves; a rerun converges', async () => {
    const env = { DOCKER_CONFIG: dockerConfig };
    await tree.edit('images.yaml', 'patch: 6', 'patch: 8');
    await tree.append('lists/glance.txt', '# refused\n');
    // The registry refuses glance-base's manifest (a policy would answer so): not retried.
    proxy.failNext(1, 400, {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ errors: [{ code: 'DENIED', message: 'refused by policy' }] }),
      match: (method, url) =>
        method === 'PUT' && /\/v2\/arbor-demo\/glance-base\/manifests\/sha256:/.test(url),
    });
    const refused = await arbor(tree, ['apply', '--auto-approve'], env);
    const output = `${refused.stdout}\n${refused.stderr}`;
    expect(refused.code, output).toBe(1);
    expect(output).toMatch(/glance-base\b.*refused by policy/);
    expect(output).toMatch(/glance-api\b.*parent glance-base was not published/);
    expect(refused.stdout).toMatch(/Tags: none moved/);
    // The child was built (the build pipeline does not wait for its parent's upload) but not published.
    expect(() => docker(['image', 'inspect', `${proxy.host}/arbor-demo/glance-api:2025.1-p8`])).not.toThrow();
    const after = JSON.parse((await arbor(tree, ['plan', '--format', 'json'], env)).stdout) as Plan;
    const action = (name: string) => after.images.find((i) => i.name === name)!.action;
    expect([action('glance-base'), action('glance-api')]).toEqual(['build', 'build']);
    // Only human tags are left for the images that published (keystone's branch did not wait).
    expect(action('keystone')).toBe('tag');

    const rerun = await arbor(tree, ['apply', '--auto-approve'], env);
    expect(rerun.code, `${rerun.stdout}\n${rerun.stderr}`).toBe(0);
    const plan = JSON.parse((await arbor(tree, ['plan', '--format', 'json'], env)).stdout) as Plan;
    expect(plan.summary).toMatchObject({ build: 0, tag: 0 });
    await expectConsistent(proxy.host, plan, `${USER}:${PASSWORD}`);
  });
});

describe('apply while the registry restarts, disappears, or fills up', () => {
  let registry: TestRegistry;
  let tree: TreeCopy;

  beforeAll(async () => {
    requireEngine();
    registry = await startRegistry();
    tree = await copyDefaultTree(registry.host);
  });

  afterAll(async () => {
    await registry?.stop();
    if (registry) await rm(registry.dir, { recursive: true, force: true });
    if (registry) removeLocalImages(registry.host);
    await tree?.remove();
  });

  it('registry restarted in the middle of an apply: the same apply completes', async () => {
    const child = execa(
      process.execPath,
      [BIN, 'apply', '--auto-approve', '--concurrency', '1', '-f', tree.file],
      {
        cwd: tree.dir,
        env: { NO_COLOR: '1', CI: '1' },
        reject: false,
      },
    );
    let restarted: Promise<void> | undefined;
    child.stderr?.on('data', (d: Buffer) => {
      // Once the second image is being pushed: down for 1.5 s, back on the same port and storage.
      if (!restarted && /openstack-base: pushing/.test(d.toString()))
        restarted = registry.stop().then(async () => {
          await new Promise((r) => setTimeout(r, 1500));
          await registry.restart();
        });
    });
    const result = await child;
    await restarted;
    expect(restarted).toBeDefined();
    expect(result.exitCode, `${result.stdout}\n${result.stderr}`).toBe(0);
    const plan = await arbor(tree, ['plan', '--format', 'json']);
    const parsed = JSON.parse(plan.stdout) as Plan;
    expect(parsed.summary).toMatchObject({ build: 0, tag: 0 });
    await expectConsistent(registry.host, parsed);
  });

  it('registry gone for good: stops launching work, says so once, moves no tag; a rerun converges', async () => {
    await tree.append('lists/glance.txt', '# gone\n');
    await tree.edit('images.yaml', 'patch: 5', 'patch: 7');
    const child = execa(
      process.execPath,
      [BIN, 'apply', '--auto-approve', '--concurrency', '1', '-f', tree.file],
      {
        cwd: tree.dir,
        env: { NO_COLOR: '1', CI: '1', ARBOR_REGISTRY_OUTAGE_SECONDS: '2' },
        reject: false,
      },
    );
    let stopped: Promise<void> | undefined;
    child.stderr?.on('data', (d: Buffer) => {
      if (!stopped && /glance-base: pushing/.test(d.toString())) stopped = registry.stop();
    });
    const started = Date.now();
    const result = await child;
    await stopped;
    expect(result.exitCode).toBe(1);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(result.stdout.match(/Registry unavailable, stopped/g)).toHaveLength(1);
    expect(result.stdout).toMatch(/Tags: none moved/);
    await registry.restart();
    // No human tag moved to 2025.1-p7 while the registry was there.
    const tags = JSON.parse(
      await skopeo(['list-tags', '--tls-verify=false', `docker://${registry.host}/arbor-demo/base`]),
    ) as {
      Tags: string[];
    };
    expect(tags.Tags).not.toContain('2025.1-p7');
    const rerun = await arbor(tree, ['apply', '--auto-approve']);
    expect(rerun.code, `${rerun.stdout}\n${rerun.stderr}`).toBe(0);
    const plan = JSON.parse((await arbor(tree, ['plan', '--format', 'json'])).stdout) as Plan;
    expect(plan.summary).toMatchObject({ build: 0, tag: 0 });
    await expectConsistent(registry.host, plan);
  });

  it('registry whose disk is full: says so, exit 1, no tag moved', async () => {
    const small = join(registry.dir, 'small');
    execFileSync('mkdir', ['-p', small]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', small]);
    const full = await startRegistry({ extraConfig: '' });
    try {
      // The same tree into a registry whose storage is a 256 KiB tmpfs: the busybox layer cannot fit.
      await full.stop();
      const config = (await import('node:fs'))
        .readFileSync(full.configFile, 'utf8')
        .replace(full.storageDir, small);
      await writeFile(full.configFile, config);
      await full.restart();
      const copy = await copyDefaultTree(full.host);
      try {
        const result = await arbor(copy, ['apply', '--auto-approve']);
        expect(result.code).toBe(1);
        expect(result.stdout).toMatch(
          /^base\s+failed\s.*the registry's storage is full \(no space left on device\)/m,
        );
        expect(result.stdout).toMatch(/Tags: none moved/);
      } finally {
        await copy.remove();
      }
    } finally {
      await full.stop();
      execFileSync('umount', [small]);
      await rm(full.dir, { recursive: true, force: true });
    }
  });

  it('tags whose links a crash left empty (the registry answers 500 for them): apply writes them again', async () => {
    expect((await arbor(tree, ['apply', '--auto-approve'])).code).toBe(0);
    const before = JSON.parse((await arbor(tree, ['plan', '--format', 'json'])).stdout) as Plan;
    expect(before.summary).toMatchObject({ build: 0, tag: 0 });
    // A registry killed in the middle of a tag's PUT keeps the tag's link empty: a human tag of
    // one image, the fingerprint tag of a leaf.
    const link = (image: string, tag: string) =>
      join(
        registry.storageDir,
        `docker/registry/v2/repositories/arbor-demo/${image}/_manifests/tags/${tag}/current/link`,
      );
    const leaf = before.images.find((i) => i.name === 'nova-scheduler')!;
    await writeFile(link('keystone', '2025.1'), '');
    await writeFile(link(leaf.name, leaf.fingerprintTag), '');
    const applied = await arbor(tree, ['apply', '--auto-approve']);
    expect(applied.code, `${applied.stdout}\n${applied.stderr}`).toBe(0);
    expect(applied.stdout).toContain(
      'tag 2025.1 is unreadable at the registry (it answered 500, as for a link a crash left empty): written again',
    );
    expect(applied.stdout).toContain(`fingerprint tag ${leaf.fingerprintTag} is unreadable at the registry`);
    // Retention cannot tell what those tags named: it deletes nothing in their repositories this run.
    expect(`${applied.stdout}\n${applied.stderr}`).toContain(
      `${registry.host}/arbor-demo/keystone: nothing deleted there this run; the registry answered 500 for tag(s) 2025.1`,
    );
    const plan = JSON.parse((await arbor(tree, ['plan', '--format', 'json'])).stdout) as Plan;
    expect(plan.summary).toMatchObject({ build: 0, tag: 0 });
    await expectConsistent(registry.host, plan);
  });
});

describe('a release record the registry refused after the tag burst', () => {
  let registry: TestRegistry;
  let proxy: FaultProxy;
  let tree: TreeCopy;

  beforeAll(async () => {
    requireEngine();
    registry = await startRegistry();
    proxy = await startFaultProxy(registry.port);
    tree = await copyDefaultTree(proxy.host);
  });

  afterAll(async () => {
    await proxy?.stop();
    if (registry) await destroyRegistry(registry);
    if (proxy) removeLocalImages(proxy.host);
    await tree?.remove();
  });

  it('is shown by the next plan and written by the next apply, not taken for a no-op', async () => {
    expect((await arbor(tree, ['apply', '--auto-approve'])).code).toBe(0);
    await tree.edit('images.yaml', 'patch: 5', 'patch: 6');
    proxy.failNext(1, 400, {
      match: (method, url) => method === 'PUT' && url.startsWith('/v2/arbor-demo/arbor-releases/manifests/'),
      body: '{"errors":[{"code":"MANIFEST_INVALID","message":"injected"}]}',
    });
    const cut = await arbor(tree, ['apply', '--auto-approve']);
    expect(cut.code, `${cut.stdout}\n${cut.stderr}`).toBe(1);
    expect(cut.stdout).toMatch(/Tags: \d+ written together/);

    const planned = await arbor(tree, ['plan', '--format', 'json', '--detailed-exitcode']);
    expect(planned.code, planned.stderr).toBe(2);
    const plan = JSON.parse(planned.stdout) as Plan;
    expect(plan.summary).toMatchObject({ build: 0, tag: 0 });
    expect(plan.release).toEqual({ name: '2025.1-p6', record: 'missing' });
    expect((await arbor(tree, ['plan'])).stdout).toContain('+ record release 2025.1-p6');

    const finished = await arbor(tree, ['apply', '--auto-approve']);
    expect(finished.code, `${finished.stdout}\n${finished.stderr}`).toBe(0);
    expect(finished.stdout).toContain('Release 2025.1-p6 recorded');
    expect((await arbor(tree, ['plan', '--detailed-exitcode'])).code).toBe(0);
    const releases = JSON.parse((await arbor(tree, ['releases', '--format', 'json'])).stdout);
    expect(releases.releases[0]).toMatchObject({ release: '2025.1-p6', images: plan.images.length });
  });
});

describe('two applies of the same tree at once', () => {
  let registry: TestRegistry;
  let first: TreeCopy;
  let second: TreeCopy;

  beforeAll(async () => {
    requireEngine();
    registry = await startRegistry();
    [first, second] = await Promise.all([copyDefaultTree(registry.host), copyDefaultTree(registry.host)]);
  });

  afterAll(async () => {
    if (registry) await destroyRegistry(registry);
    if (registry) removeLocalImages(registry.host);
    await first?.remove();
    await second?.remove();
  });

  it('from two checkouts: both succeed, every tag on its fingerprint tag’s digest, the next plan is clean', async () => {
    const [a, b] = await Promise.all([
      arbor(first, ['apply', '--auto-approve', '--concurrency', '2']),
      arbor(second, ['apply', '--auto-approve', '--concurrency', '2']),
    ]);
    expect(a.code, `${a.stdout}\n${a.stderr}`).toBe(0);
    expect(b.code, `${b.stdout}\n${b.stderr}`).toBe(0);
    const plan = JSON.parse((await arbor(first, ['plan', '--format', 'json'])).stdout) as Plan;
    expect(plan.summary).toMatchObject({ build: 0, tag: 0 });
    await expectConsistent(registry.host, plan);
  });

  it('in one checkout: the second waits for the lock, or says who holds it', async () => {
    await first.append('lists/nova.txt', '# locked\n');
    const running = execa(process.execPath, [BIN, 'apply', '--auto-approve', '-f', first.file], {
      cwd: first.dir,
      env: { NO_COLOR: '1', CI: '1' },
      reject: false,
    });
    // Wait until the first one holds the lock (it starts building).
    await new Promise<void>((resolve) => {
      running.stderr?.on('data', (d: Buffer) => {
        if (/building/.test(d.toString())) resolve();
      });
    });
    const refused = await arbor(first, ['apply', '--auto-approve']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      new RegExp(
        `another apply is running in this checkout since \\S+, pid ${running.pid} \\(arbor apply\\)`,
      ),
    );
    const waited = await arbor(first, ['apply', '--auto-approve', '--lock-timeout', '5m']);
    const done = await running;
    expect(done.exitCode, done.stderr).toBe(0);
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.stdout).toContain('No changes');
  });
});
