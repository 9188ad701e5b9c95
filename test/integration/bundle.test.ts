// arbor bundle and bundle push on the default tree, built by arbor apply into a real registry: the
// release as one deterministic file that docker load (20.10), podman load and skopeo read, and
// that bundle push puts into other real registries — same digests, only missing blobs sent, tags
// last; an update bundle since the previous release; referrers carried; a faulty link; damaged
// files refused before any tag moves.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachArtifact } from '../../src/registry/attach.js';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { unlessNotFound } from '../../src/registry/errors.js';
import { readRecord } from '../../src/release/store.js';
import { arbor, BIN } from '../support/cli.js';
import { DOCKER, docker, requireEngine } from '../support/engine.js';
import { type FaultProxy, startFaultProxy } from '../support/fault-proxy.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { pushTarImage } from '../support/tar-image.js';
import { copyDefaultTree, removeLocalImages, type TreeCopy } from '../support/tree.js';
import { skopeo } from './registry-fixtures.js';

interface BundleReport {
  sha256: string;
  bytes: number;
  images: { name: string; digest: string; tags: string[] }[];
  blobs: number;
  omitted: number;
  referrers: number;
}

let source: TestRegistry;
let site: TestRegistry;
let tree: TreeCopy;
let dir: string;
const clients: RegistryClient[] = [];
/** The first release: its record's name and its bundle. */
const R0 = '2025.1-p5';
let r0Bundle: string;
let r0: BundleReport;

const run = (...args: string[]) => arbor([...args, '-f', tree.file], { cwd: tree.dir });
const client = (host: string) => {
  const c = createRegistryClient({ registry: host, insecure: true, retries: 2 });
  clients.push(c);
  return c;
};
const sha256 = (file: string) => `sha256:${createHash('sha256').update(readFileSync(file)).digest('hex')}`;

/** `tar -tvR`: every entry with the block its header starts at (GNU tar, an independent reader). */
function tarEntries(file: string): { name: string; block: number; size: number; listing: string }[] {
  return execFileSync('tar', ['-tvR', '-f', file], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .filter((l) => !l.includes('** Block of NULs **') && !l.includes('End of File'))
    .map((l) => {
      const m = /^block (\d+): (\S+ \S+\s+(\d+) \S+ \S+) (.+)$/.exec(l)!;
      return { block: Number(m[1]), listing: m[2]!, size: Number(m[3]), name: m[4]! };
    });
}

function bundle(out: string, ...args: string[]): BundleReport {
  const result = run('bundle', '--out', out, '--format', 'json', ...args);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as BundleReport;
}

function push(file: string, target: string, ...args: string[]) {
  return arbor(['bundle', 'push', file, target, '--insecure', '--auto-approve', '--format', 'json', ...args]);
}

/** A push run without blocking this process: the fault proxy lives in it. */
async function pushAsync(file: string, target: string) {
  const r = await execa(
    process.execPath,
    [BIN, 'bundle', 'push', file, target, '--insecure', '--auto-approve'],
    {
      env: { NO_COLOR: '1' },
      reject: false,
      timeout: 240_000,
    },
  );
  return { code: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** Manifest and blob requests with a body, in the order the registry finished them. */
async function writesSince(registry: TestRegistry, mark: number, namespace: string) {
  return (await registry.log())
    .slice(mark)
    .split('\n')
    .map((l) => new RegExp(`"(PUT|PATCH|POST) /v2/${namespace}/([^ ]+) HTTP`).exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => {
      const [, method, rest] = m as unknown as [string, string, string];
      const tag = /\/manifests\/([^/?]+)$/.exec(rest)?.[1];
      const committed = /[?&]digest=sha256%3A([0-9a-f]{64})/.exec(rest)?.[1];
      const kind =
        tag === undefined
          ? 'blob'
          : tag.startsWith('sha256:')
            ? 'manifest'
            : tag.startsWith('sha256-')
              ? 'referrers-index'
              : 'tag';
      return { method, rest, kind, committed: committed ? `sha256:${committed}` : undefined };
    });
}

/**
 * Removes podman's images under `prefix`. Listing races with the builds and removals other test
 * files run at this moment in the same store: podman fails a listing when an image it is looking
 * at is removed meanwhile ("image not known"), and a removal when the image is already gone. Both
 * are tried again; what still fails is reported, not thrown: this is cleanup, after the tests.
 */
async function removePodmanImages(prefix: string): Promise<void> {
  let problem = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const loaded = execFileSync('podman', ['images', '--format', '{{.Repository}}:{{.Tag}}'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      })
        .split('\n')
        .filter((ref) => ref.startsWith(prefix));
      if (loaded.length === 0) return;
      execFileSync('podman', ['rmi', '--force', ...loaded], { stdio: ['ignore', 'ignore', 'pipe'] });
      return;
    } catch (e) {
      problem = String((e as { stderr?: unknown }).stderr ?? e).trim();
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }
  process.stderr.write(`bundle.test.ts: podman images under ${prefix} left in place: ${problem}\n`);
}

beforeAll(async () => {
  requireEngine();
  [source, site] = await Promise.all([startRegistry(), startRegistry()]);
  tree = await copyDefaultTree(source.host);
  dir = await mkdtemp(path.join(tmpdir(), 'arbor-bundle-'));
  const applied = run('apply', '--auto-approve', '--concurrency', '2');
  expect(applied.code, applied.stderr).toBe(0);
  expect(applied.stdout).toContain(`Release ${R0} recorded`);
  r0Bundle = path.join(dir, 'r0.tar');
  r0 = bundle(r0Bundle, '--release', R0);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  if (source) removeLocalImages(source.host);
  // Only what this file loaded: podman shares its image store with buildah, whose builds other
  // test files run at this moment (`rmi --all --force` took their working containers too).
  if (source) await removePodmanImages(`${source.host}/`);
  await tree?.remove();
  if (dir) await rm(dir, { recursive: true, force: true });
  await Promise.all([source, site].filter(Boolean).map((r) => destroyRegistry(r)));
});

describe('arbor bundle', () => {
  it('writes a release as one deterministic file: OCI layout and docker archive, every blob once', async () => {
    const images = (
      JSON.parse(run('fingerprint', '--format', 'json').stdout) as { images: { name: string }[] }
    ).images;
    expect(r0.images.map((i) => i.name).sort()).toEqual(images.map((i) => i.name).sort());
    for (const image of r0.images) expect(image.tags).toEqual(['2025.1', R0, expect.stringMatching(/^fp-/)]);
    expect(r0.sha256).toBe(sha256(r0Bundle));
    expect(r0.bytes).toBe(statSync(r0Bundle).size);
    // The same release again: the same bytes. Beside it, what earlier writes of that file left:
    // a process killed with -9 (gone: its file is removed), one still running (this test's), and
    // another machine's on a shared file system (both left alone).
    const host = hostname().replace(/[^A-Za-z0-9.-]/g, '_');
    // A shell's own pid, printed as it exits: a process that is gone.
    const dead = execFileSync('sh', ['-c', 'echo $$']).toString().trim();
    const leftovers = {
      dead: path.join(dir, `.r0-again.tar.tmp-${host}-${dead}-0a0b0c0d`),
      running: path.join(dir, `.r0-again.tar.tmp-${host}-${process.pid}-0a0b0c0d`),
      elsewhere: path.join(dir, '.r0-again.tar.tmp-other-host-1-0a0b0c0d'),
    };
    for (const file of Object.values(leftovers)) writeFileSync(file, 'partial bundle');
    const again = bundle(path.join(dir, 'r0-again.tar'), '--release', R0);
    expect(again.sha256).toBe(r0.sha256);
    expect(existsSync(leftovers.dead)).toBe(false);
    expect(existsSync(leftovers.running)).toBe(true);
    expect(existsSync(leftovers.elsewhere)).toBe(true);
    for (const file of Object.values(leftovers)) rmSync(file, { force: true });

    const entries = tarEntries(r0Bundle);
    expect(entries.slice(0, 7).map((e) => e.name)).toEqual([
      'oci-layout',
      'index.json',
      'arbor-bundle.json',
      'manifest.json',
      'repositories',
      'blobs/',
      'blobs/sha256/',
    ]);
    for (const e of entries) expect(e.listing).toMatch(/^(-rw-r--r--|drwxr-xr-x) 0\/0 .* 1970-01-01 00:00$/);
    const blobs = entries.filter((e) => e.name.startsWith('blobs/sha256/') && e.name.length > 13);
    expect(blobs).toHaveLength(r0.blobs);
    expect(new Set(blobs.map((b) => b.name)).size).toBe(blobs.length);
    // Every blob is what its name says (read back by GNU tar).
    const whole = readFileSync(r0Bundle);
    for (const b of blobs) {
      const start = (b.block + 1) * 512;
      const digest = createHash('sha256')
        .update(whole.subarray(start, start + b.size))
        .digest('hex');
      expect(`blobs/sha256/${digest}`).toBe(b.name);
    }
    const index = JSON.parse(execFileSync('tar', ['-xOf', r0Bundle, 'index.json'], { encoding: 'utf8' }));
    const refs = index.manifests.map(
      (m: { annotations: Record<string, string> }) => m.annotations['org.opencontainers.image.ref.name'],
    );
    expect(refs).toContain('keystone:2025.1');
    expect(refs).toHaveLength(r0.images.length * 3);
    // The busybox layer that every image shares is in the file once.
    const layerSizes = blobs.map((b) => b.size).filter((s) => s > 500_000);
    expect(layerSizes).toHaveLength(1);
  });

  it('--out - streams the same bytes to standard output, the report to standard error', async () => {
    const piped = await execa(
      process.execPath,
      [BIN, 'bundle', '--out', '-', '--release', R0, '-f', tree.file],
      {
        cwd: tree.dir,
        env: { NO_COLOR: '1' },
        encoding: 'buffer',
        stripFinalNewline: false,
        reject: false,
      },
    );
    const stderr = Buffer.from(piped.stderr).toString();
    expect(piped.exitCode, stderr).toBe(0);
    const bytes = Buffer.from(piped.stdout);
    expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(r0.sha256);
    expect(stderr).toContain(`Wrote standard output: `);
    expect(stderr).toContain(r0.sha256);
    // A bundle is pushed from a file: a cut upload resumes by reading it again.
    const fromStdin = push('-', `${site.host}/site`);
    expect(fromStdin.code).toBe(1);
    expect(fromStdin.stderr).toContain('bundle push -: a bundle is pushed from a file');
  });

  it('loads with docker load (20.10), podman load and skopeo, and the images run', async () => {
    removeLocalImages(source.host);
    const loaded = docker(['load', '-i', r0Bundle]);
    expect(loaded).toContain(`Loaded image: ${source.host}/arbor-demo/keystone:2025.1`);
    const ran = docker([
      'run',
      '--rm',
      '--network',
      'none',
      `${source.host}/arbor-demo/keystone:${R0}`,
      'cat',
      '/etc/os-release',
    ]);
    expect(ran).toContain('arbor');

    const podman = execFileSync('podman', ['load', '-i', r0Bundle], { encoding: 'utf8' });
    expect(podman).toContain(`${source.host}/arbor-demo/nova-api:2025.1`);
    // This sandbox's hard limits are below podman's default ulimits: ask for less.
    const podmanRan = execFileSync(
      'podman',
      [
        'run',
        '--rm',
        '--network',
        'none',
        '--ulimit',
        'nofile=1024:1024',
        '--ulimit',
        'nproc=1024:1024',
        `${source.host}/arbor-demo/nova-api:2025.1`,
        'cat',
        '/etc/os-release',
      ],
      { encoding: 'utf8' },
    );
    expect(podmanRan).toContain('arbor');

    // skopeo reads the OCI layout by ref.name and copies the image byte for byte.
    skopeo([
      'copy',
      '--dest-tls-verify=false',
      `oci-archive:${r0Bundle}:glance-api:2025.1`,
      `docker://${site.host}/by-skopeo/glance-api:2025.1`,
    ]);
    const viaSkopeo = await client(site.host).headManifest('by-skopeo/glance-api', '2025.1');
    expect(viaSkopeo?.digest).toBe(r0.images.find((i) => i.name === 'glance-api')!.digest);
  });

  it('docker 20.10 decompresses gzip layers named by digest: a layer the engine never saw loads', async () => {
    const marker = `bundle-${Date.now()}-${Math.random()}`;
    await pushTarImage(client(source.host), 'other/marker', '1', [[{ name: 'marker.txt', content: marker }]]);
    const file = path.join(dir, 'marker.tar');
    const result = arbor(['bundle', '--insecure', `${source.host}/other/marker:1`, '--out', file]);
    expect(result.code, result.stderr).toBe(0);
    docker(['load', '-i', file]);
    const id = docker(['create', `${source.host}/other/marker:1`, 'unused']).trim();
    try {
      expect(execFileSync(DOCKER, ['cp', `${id}:/marker.txt`, '-'], { encoding: 'utf8' })).toContain(marker);
    } finally {
      docker(['rm', id]);
    }
  });
});

describe('arbor bundle push', () => {
  it('puts a release into another registry: same digests, each blob once, every tag after the last upload', async () => {
    const mark = (await site.log()).length;
    const pushed = push(r0Bundle, `${site.host}/site`);
    expect(pushed.code, pushed.stderr).toBe(0);
    const report = JSON.parse(pushed.stdout);
    expect(report.result.flip.tags).toBe(r0.images.length * 3);
    const src = client(source.host);
    const dst = client(site.host);
    for (const image of r0.images)
      for (const tag of image.tags) {
        expect((await dst.headManifest(`site/${image.name}`, tag))?.digest, `${image.name}:${tag}`).toBe(
          image.digest,
        );
        expect((await src.headManifest(`arbor-demo/${image.name}`, tag))?.digest).toBe(image.digest);
      }
    // The release's record is there too, naming the site's repositories.
    const stored = await readRecord(dst, 'site/arbor-releases', R0);
    expect(stored?.record).toMatchObject({ release: R0, registry: site.host, namespace: 'site' });
    expect(stored!.record.images.map((i) => [i.repository, i.digest]).sort()).toEqual(
      r0.images.map((i) => [`site/${i.name}`, i.digest]).sort(),
    );
    // (The release record comes after the tags, by design: it names what is there.)
    const writes = (await writesSince(site, mark, 'site')).filter(
      (w) => !w.rest.startsWith('arbor-releases/'),
    );
    const committed = writes.filter((w) => w.committed).map((w) => w.committed!);
    // Each blob's bytes were sent once (the other repositories mounted it).
    expect(new Set(committed).size).toBe(committed.length);
    const lastData = Math.max(...writes.map((w, i) => (w.kind === 'blob' || w.kind === 'manifest' ? i : -1)));
    const firstTag = writes.findIndex((w) => w.kind === 'tag');
    expect(firstTag).toBeGreaterThan(lastData);

    // Again: nothing to send, nothing to move.
    const mark2 = (await site.log()).length;
    const rerun = push(r0Bundle, `${site.host}/site`);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(JSON.parse(rerun.stdout).result).toMatchObject({
      totals: { blobsUploaded: 0, manifestsPut: 0 },
      flip: { tags: 0 },
    });
    expect(await writesSince(site, mark2, 'site')).toEqual([]);
  });

  it('--since: an update bundle holds only new blobs, pushes onto the earlier release, and is refused without it', async () => {
    await tree.edit('images.yaml', 'patch: 5', 'patch: 6');
    await tree.append('images/nova-base/nova.conf', '[DEFAULT]\ndebug = true\n');
    const applied = run('apply', '--auto-approve', '--concurrency', '2');
    expect(applied.code, applied.stderr).toBe(0);
    const update = path.join(dir, 'update.tar');
    const report = bundle(update, '--release', '2025.1-p6', '--since', R0);
    expect(report.omitted).toBeGreaterThan(0);
    const r0Blobs = new Set(tarEntries(r0Bundle).map((e) => e.name));
    const inUpdate = tarEntries(update).filter((e) => e.name.startsWith('blobs/sha256/') && e.size > 0);
    // Only the three nova images changed: their new layers and every manifest and config.
    const layers = inUpdate.filter((e) => !r0Blobs.has(e.name));
    expect(layers.length).toBeGreaterThan(0);
    const reused = inUpdate.filter((e) => r0Blobs.has(e.name));
    const manifestJson = JSON.parse(
      execFileSync('tar', ['-xOf', r0Bundle, 'manifest.json'], { encoding: 'utf8' }),
    );
    const r0Layers = new Set(manifestJson.flatMap((m: { Layers: string[] }) => m.Layers));
    for (const e of reused) expect(r0Layers.has(e.name), `${e.name} was a layer of ${R0}`).toBe(false);

    const mark = (await site.log()).length;
    const pushed = push(update, `${site.host}/site`);
    expect(pushed.code, pushed.stderr).toBe(0);
    const dst = client(site.host);
    for (const image of report.images)
      expect((await dst.headManifest(`site/${image.name}`, '2025.1-p6'))?.digest).toBe(image.digest);
    // Blobs the site had were not sent again.
    const committed = (await writesSince(site, mark, 'site'))
      .filter((w) => w.committed)
      .map((w) => w.committed!);
    expect(committed.length).toBeGreaterThan(0);
    for (const digest of committed)
      expect(r0Blobs.has(`blobs/sha256/${digest.slice(7)}`), digest).toBe(false);

    const refused = push(update, `${site.host}/fresh`);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      new RegExp(
        `update.tar is an update bundle since ${R0}, and ${site.host}/fresh lacks \\d+ of the blobs it left out \\(images .*; e\\.g\\. sha256:[0-9a-f]{64} of [a-z-]+\\)`,
      ),
    );
    expect(await tagsOf(dst, 'fresh/keystone')).toEqual([]);
  });

  it('carries referrers: an SBOM attached to an image is pushed and listed at a registry without the referrers API', async () => {
    const src = client(source.host);
    const head = (await src.headManifest('arbor-demo/cron', '2025.1'))!;
    const attached = await attachArtifact(src, 'arbor-demo/cron', {
      artifactType: 'application/spdx+json',
      subject: { mediaType: head.mediaType, digest: head.digest, size: head.size },
      blobs: [
        {
          mediaType: 'application/spdx+json',
          bytes: Buffer.from('{"spdxVersion":"SPDX-2.3","name":"cron"}'),
        },
      ],
    });
    const file = path.join(dir, 'cron.tar');
    const report = bundle(file, '--only', 'cron', '--tag', '2025.1');
    expect(report.referrers).toBe(1);
    const pushed = push(file, `${site.host}/withrefs`);
    expect(pushed.code, pushed.stderr).toBe(0);
    const listed = await client(site.host).referrers('withrefs/cron', head.digest);
    expect(listed.source).toBe('tag-schema');
    expect(listed.manifests.map((d) => d.digest)).toEqual([attached.digest]);
    expect(listed.manifests[0]!.artifactType).toBe('application/spdx+json');
  });
});

describe('bundle push through faults and from damaged files', () => {
  let target: TestRegistry;
  let proxy: FaultProxy;

  beforeAll(async () => {
    target = await startRegistry();
    proxy = await startFaultProxy(target.port);
  });

  afterAll(async () => {
    await proxy?.stop();
    if (target) await destroyRegistry(target);
  });

  it('completes through 429/503 answers, cut answers and cut uploads, with the same digests', async () => {
    proxy.chaos({
      seed: 11,
      failRate: 0.15,
      statuses: [429, 503],
      retryAfter: '0',
      cutRate: 0.1,
      cutUploadRate: 0.3,
      // At least one cut upload whatever number of uploads the rate happens to reach.
      cutFirst: { uploads: 1 },
    });
    const pushed = await pushAsync(r0Bundle, `${proxy.host}/site`);
    proxy.chaos(null);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(proxy.injected.failed).toBeGreaterThan(3);
    expect(proxy.injected.cutUploads).toBeGreaterThan(0);
    const dst = client(target.host);
    for (const image of r0.images)
      for (const tag of image.tags)
        expect((await dst.headManifest(`site/${image.name}`, tag))?.digest, `${image.name}:${tag}`).toBe(
          image.digest,
        );
  });

  it('Ctrl-C during a push stops it with 130 and moves no tag; the same command then finishes', async () => {
    const fresh = await startRegistry();
    const front = await startFaultProxy(fresh.port);
    try {
      // The first upload sessions are refused for a while (503, retry after 1 s): the push is
      // surely in its blob phase when stopped.
      front.failNext(3, 503, {
        retryAfter: '1',
        match: (method, url) => method === 'POST' && url.includes('/blobs/uploads/'),
      });
      const child = execa(
        process.execPath,
        [BIN, 'bundle', 'push', r0Bundle, `${front.host}/site`, '--insecure', '--auto-approve'],
        {
          env: { NO_COLOR: '1' },
          reject: false,
        },
      );
      while (!front.requests.some((r) => r.injected)) await new Promise((done) => setTimeout(done, 20));
      child.kill('SIGINT');
      const stopped = await child;
      expect(stopped.exitCode, stopped.stderr).toBe(130);
      expect(stopped.stderr).toContain('Interrupted');
      const dst = client(fresh.host);
      for (const image of r0.images)
        for (const tag of image.tags) expect(await dst.headManifest(`site/${image.name}`, tag)).toBeNull();
      const again = await pushAsync(r0Bundle, `${front.host}/site`);
      expect(again.code, again.stderr).toBe(0);
      for (const image of r0.images)
        for (const tag of image.tags)
          expect((await dst.headManifest(`site/${image.name}`, tag))?.digest).toBe(image.digest);
    } finally {
      await front.stop();
      await destroyRegistry(fresh);
    }
  });

  it('refuses a tampered blob or a truncated file with the entry named, before any manifest or tag', async () => {
    const layer = tarEntries(r0Bundle)
      .filter((e) => e.name.startsWith('blobs/sha256/'))
      .sort((a, b) => b.size - a.size)[0]!;
    const tampered = path.join(dir, 'tampered.tar');
    copyFileSync(r0Bundle, tampered);
    const bytes = readFileSync(tampered);
    bytes[(layer.block + 1) * 512 + Math.floor(layer.size / 2)]! ^= 0x01;
    writeFileSync(tampered, bytes);
    const bad = push(tampered, `${target.host}/tampered`);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe(
      `error: ${tampered}: ${layer.name} does not match its digest (its bytes hash to ${sha256Of(bytes, layer)}): the bundle is damaged or was altered`,
    );
    const truncated = path.join(dir, 'truncated.tar');
    writeFileSync(truncated, bytes.subarray(0, (layer.block + 1) * 512 + 1000));
    const mark = (await target.log()).length;
    const cut = push(truncated, `${target.host}/tampered`);
    expect(cut.code).toBe(1);
    expect(cut.stderr).toContain(`${truncated}: truncated: the file ends inside ${layer.name}`);
    // Found from the table of contents, before the plan: the target was not asked anything.
    expect((await target.log()).slice(mark)).not.toMatch(/"[A-Z]+ \/v2\/tampered\//);
    // A directory given for the file (an unquoted space, a wrong path): one line, not EISDIR.
    const folder = push(dir, `${target.host}/tampered`);
    expect(folder.code).toBe(1);
    expect(folder.stderr.trim()).toBe(`error: ${dir}: cannot read the bundle (a directory)`);
    const dst = client(target.host);
    for (const image of r0.images) {
      expect(await tagsOf(dst, `tampered/${image.name}`)).toEqual([]);
      expect(await dst.headManifest(`tampered/${image.name}`, image.digest)).toBeNull();
    }
  });
});

async function tagsOf(c: RegistryClient, repository: string): Promise<string[]> {
  return unlessNotFound(c.listTags(repository), [] as string[]);
}

function sha256Of(bytes: Buffer, entry: { block: number; size: number }): string {
  const start = (entry.block + 1) * 512;
  return `sha256:${createHash('sha256')
    .update(bytes.subarray(start, start + entry.size))
    .digest('hex')}`;
}
