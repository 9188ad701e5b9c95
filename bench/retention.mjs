// Retention plan speed (issue 5, "Speed"): 50 repositories × 200 tags on a loopback CNCF
// distribution registry; `planRetention` (list tags, HEAD every tag, GET every manifest and image
// config, evaluate) timed end to end, with the number of HTTP requests. Target: ≤ 2 s.
// Setup pushes 10,000 small images through the registry client (untimed).
// Per connection count: a cold plan (empty digest cache and no tag hints, so every tag is read
// with one GET and every config fetched and stored), then WARM_RUNS warm plans over the same
// cache (only tag lists and HEADs go to the registry); warm wall time is their median.
// The registry's floor: the same HEADs sent bare through one undici Pool (same connections,
// pipelining 8, no arbor code), so the warm plan's time can be split into what the registry needs
// and what arbor adds. arborCpuMs is this process's CPU time during a plan.
//
// Retention apply (section "apply"): on APPLY_REPOSITORIES of those repositories (default 10,
// 191 deletions each), `applyRetention` timed end to end after the registry's storage is restored
// from a snapshot before every run: wall time, requests, and the window each DELETE leaves open
// (from the first request of its re-check to the DELETE's answer; median, p99, max). Beside it
// the same digests deleted bare, 8 at once, with no re-check (what a delete-by-digest script
// does: the registry's floor) and, with BEFORE_DIST=<a dist/ of an earlier commit>, the earlier
// applyRetention on the same state.
// The race (section "race"): RACE_ROUNDS rounds (default 40) of one repository with 8 old
// digests deleted while a writer adds tags onto them at random moments: how many written tags a
// plain writer (PUT, no guard: docker push, skopeo) loses, and how many arbor's guarded writer
// (writeTagsGuarded) loses.
//
//   npx tsc -p tsconfig.build.json && node bench/retention.mjs        (prints JSON)
//   env REPOSITORIES, TAGS, WARM_RUNS (default 5); REGISTRY_GOGC sets the registry's GOGC (its
//   garbage collector is half its CPU per request at the default 100) to see arbor against a faster registry;
//   SECTIONS (default plan,apply,race), APPLY_REPOSITORIES, APPLY_RUNS (3), BEFORE_DIST, RACE_ROUNDS,
//   BATCH_SIZE (deletions per re-check, default 8)
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { cp, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pLimit from 'p-limit';
import { Pool } from 'undici';
import { loadTree } from '../dist/plan/desired.js';
import { createRegistryClient } from '../dist/registry/client.js';
import { writeTagsGuarded } from '../dist/registry/deletion-guard.js';
import { applyRetention } from '../dist/retention/apply.js';
import { planRetentionDetailed } from '../dist/retention/index.js';
import { pushTinyImage } from './lib/registry.mjs';

const REPOSITORIES = Number(process.env.REPOSITORIES ?? 50);
const TAGS = Number(process.env.TAGS ?? 200);
const WARM_RUNS = Number(process.env.WARM_RUNS ?? 5);
const TARGET_MS = 2000;
const SECTIONS = new Set((process.env.SECTIONS ?? 'plan,apply,race').split(','));
const APPLY_REPOSITORIES = Number(process.env.APPLY_REPOSITORIES ?? 10);
const APPLY_RUNS = Number(process.env.APPLY_RUNS ?? 3);
const RACE_ROUNDS = Number(process.env.RACE_ROUNDS ?? 40);
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const sha256 = (bytes) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function freePort() {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

async function startRegistry(dir, port) {
  port ??= await freePort();
  const config = join(dir, 'config.yml');
  await writeFile(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'storage')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`,
  );
  const env = process.env.REGISTRY_GOGC ? { ...process.env, GOGC: process.env.REGISTRY_GOGC } : process.env;
  const child = spawn('docker-registry', ['serve', config], { stdio: 'ignore', env });
  for (let i = 0; i < 300; i++) {
    const ok = await new Promise((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return { host: `127.0.0.1:${port}`, port, child };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('docker-registry did not start');
}

async function populate(client) {
  const limit = pLimit(16);
  const layer = randomBytes(4096);
  const layerDigest = sha256(layer);
  const jobs = [];
  for (let r = 0; r < REPOSITORIES; r++) {
    const repository = `bench/svc-${r}`;
    await client.uploadBlob(repository, layerDigest, layer, layer.length);
    for (let t = 0; t < TAGS; t++) {
      jobs.push(
        limit(async () => {
          const config = Buffer.from(
            JSON.stringify({
              created: new Date(Date.UTC(2024, 0, 1) + t * 3_600_000).toISOString(),
              architecture: 'amd64',
              os: 'linux',
              // Distinct per repository, as real images are: identical content in two
              // repositories would share digest-cache entries within one (cold) run.
              config: { Labels: { 'bench.repository': repository } },
              rootfs: { type: 'layers', diff_ids: [layerDigest] },
            }),
          );
          const configDigest = sha256(config);
          await client.uploadBlob(repository, configDigest, config, config.length);
          const manifest = Buffer.from(
            JSON.stringify({
              schemaVersion: 2,
              mediaType: OCI_MANIFEST,
              config: {
                mediaType: 'application/vnd.oci.image.config.v1+json',
                digest: configDigest,
                size: config.length,
              },
              layers: [
                {
                  mediaType: 'application/vnd.oci.image.layer.v1.tar',
                  digest: layerDigest,
                  size: layer.length,
                },
              ],
            }),
          );
          await client.putManifest(
            repository,
            t % 50 === 0 ? `stable-${t}` : `build-${t}`,
            manifest,
            OCI_MANIFEST,
          );
        }),
      );
    }
  }
  await Promise.all(jobs);
}

/** One planRetentionDetailed with a fresh client and the digest cache in `cacheDir`. */
async function timedPlan(config, host, concurrency, cacheDir) {
  const client = createRegistryClient({ registry: host, insecure: true, maxConnections: concurrency });
  try {
    const start = performance.now();
    const cpu = process.cpuUsage();
    const plan = await planRetentionDetailed(config, [], client, new Date(), { concurrency, cacheDir });
    const ms = performance.now() - start;
    const used = process.cpuUsage(cpu);
    return {
      wallMs: Math.round(ms),
      arborCpuMs: Math.round((used.user + used.system) / 1000),
      requests: client.stats.requests,
      connections: client.stats.connections,
      requestsPerSecond: Math.round(client.stats.requests / (ms / 1000)),
      deletions: plan.deletions.length,
      kept: plan.kept.length,
      withinTarget: ms <= TARGET_MS,
      deletionKey: plan.deletions
        .map((d) => `${d.repository}@${d.digest}`)
        .sort()
        .join(','),
    };
  } finally {
    await client.close();
  }
}

/** Every tag HEADed once, bare: the least time this registry needs to say what 10,000 tags point at. */
async function registryFloor(host, connections) {
  const pool = new Pool(`http://${host}`, { connections, pipelining: 8 });
  const accept = [
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'application/vnd.docker.distribution.manifest.v2+json',
  ].join(', ');
  const paths = [];
  for (let r = 0; r < REPOSITORIES; r++)
    for (let t = 0; t < TAGS; t++)
      paths.push(`/v2/bench/svc-${r}/manifests/${t % 50 === 0 ? `stable-${t}` : `build-${t}`}`);
  const limit = pLimit(connections * 8);
  const start = performance.now();
  await Promise.all(
    paths.map((path) =>
      limit(async () => {
        const { statusCode, body } = await pool.request({ method: 'HEAD', path, headers: { accept } });
        await body.dump();
        if (statusCode !== 200) throw new Error(`HEAD ${path}: ${statusCode}`);
      }),
    ),
  );
  const ms = performance.now() - start;
  await pool.close();
  return {
    requests: paths.length,
    wallMs: Math.round(ms),
    requestsPerSecond: Math.round(paths.length / (ms / 1000)),
  };
}

/** The run with the median wall time. */
function median(results) {
  return [...results].sort((a, b) => a.wallMs - b.wallMs)[Math.floor(results.length / 2)];
}

async function cacheSize(cacheDir) {
  let files = 0;
  let bytes = 0;
  for (const e of await readdir(cacheDir, { recursive: true, withFileTypes: true }))
    if (e.isFile()) {
      files++;
      bytes += (await stat(join(e.parentPath, e.name))).size;
    }
  return { files, bytes };
}

/** Stops the registry, puts the snapshot of its storage back, starts it again on the same port. */
async function restore(dir, registry) {
  registry.child.kill('SIGTERM');
  await new Promise((r) => registry.child.once('exit', r));
  await rm(join(dir, 'storage'), { recursive: true, force: true });
  await cp(join(dir, 'storage-snapshot'), join(dir, 'storage'), { recursive: true });
  return startRegistry(dir, registry.port);
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))];
function spread(values) {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  return {
    n: sorted.length,
    medianMs: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    maxMs: sorted[sorted.length - 1],
  };
}

/** The deletions retention plans on the first APPLY_REPOSITORIES repositories (digest cache warm). */
async function applyPlan(config, host, cacheDir) {
  const client = createRegistryClient({ registry: host, insecure: true, maxConnections: 16 });
  try {
    const repositories = Array.from({ length: APPLY_REPOSITORIES }, (_, r) => `svc-${r}`);
    const plan = await planRetentionDetailed(config, [], client, new Date(), {
      concurrency: 16,
      cacheDir,
      repositories,
    });
    return plan.deletions;
  } finally {
    await client.close();
  }
}

/** One applyRetention (this commit's, or BEFORE_DIST's) over `deletions`. */
async function timedApply(apply, deletions, host) {
  const client = createRegistryClient({ registry: host, insecure: true });
  try {
    const start = performance.now();
    let lastResult = 0;
    const result = await apply(deletions, client, {
      ...(process.env.BATCH_SIZE ? { batchSize: Number(process.env.BATCH_SIZE) } : {}),
      onResult: () => {
        lastResult = performance.now();
      },
    });
    const wallMs = performance.now() - start;
    const count = (status) => result.results.filter((r) => r.status === status).length;
    const windows = result.results.filter((r) => r.window);
    return {
      wallMs: Math.round(wallMs),
      // Until the last deletion settled: the rest is the deletion marker's settle time.
      deletingMs: Math.round(lastResult - start),
      requests: client.stats.requests,
      requestsPerDeletion: Math.round((client.stats.requests / deletions.length) * 100) / 100,
      deleted: count('deleted'),
      aborted: count('aborted'),
      windowCheckStartToAnswer: spread(windows.map((r) => r.window.checkStartToAnswer)),
      windowCheckEndToSend: spread(windows.map((r) => r.window.checkEndToSend)),
    };
  } finally {
    await client.close();
  }
}

/** The same digests deleted bare through one undici Pool, 8 at once, no re-check: the floor. */
async function bareDeletes(deletions, host) {
  const pool = new Pool(`http://${host}`, { connections: 8 });
  const limit = pLimit(8);
  const start = performance.now();
  await Promise.all(
    deletions.map((d) =>
      limit(async () => {
        const path = `/v2/${d.repository.slice(host.length + 1)}/manifests/${d.digest}`;
        for (let attempt = 0; ; attempt++) {
          const { statusCode, body } = await pool.request({ method: 'DELETE', path });
          await body.dump();
          if (statusCode === 202) return;
          // Distribution's own race between concurrent DELETEs in one repository: try again.
          if (statusCode === 400 && attempt < 5) continue;
          throw new Error(`DELETE ${path}: ${statusCode}`);
        }
      }),
    ),
  );
  const ms = performance.now() - start;
  await pool.close();
  return { wallMs: Math.round(ms), requests: deletions.length };
}

async function applySection(dir, registry, config) {
  await cp(join(dir, 'storage'), join(dir, 'storage-snapshot'), { recursive: true });
  const cacheDir = join(dir, 'digest-cache-apply');
  const before = process.env.BEFORE_DIST
    ? (await import(join(process.env.BEFORE_DIST, 'retention/apply.js'))).applyRetention
    : undefined;
  const variants = [['after', applyRetention], ...(before ? [['before', before]] : []), ['bareDeletes']];
  const runs = Object.fromEntries(variants.map(([name]) => [name, []]));
  let deletions = 0;
  for (let run = 0; run < APPLY_RUNS; run++) {
    for (const [name, apply] of variants) {
      registry = await restore(dir, registry);
      const planned = await applyPlan(config, registry.host, cacheDir);
      deletions = planned.length;
      runs[name].push({
        ...(apply
          ? await timedApply(apply, planned, registry.host)
          : await bareDeletes(planned, registry.host)),
        loadavg: Math.round(loadavg()[0] * 100) / 100,
      });
    }
  }
  const summary = Object.fromEntries(
    Object.entries(runs).map(([name, list]) => [name, { ...median(list), runs: list.map((r) => r.wallMs) }]),
  );
  return { registry, result: { repositories: APPLY_REPOSITORIES, deletions, ...summary } };
}

/** RACE_ROUNDS rounds: 8 old digests deleted while a writer adds 3 tags onto them at random moments. */
async function raceSection(host) {
  const client = createRegistryClient({ registry: host, insecure: true });
  const out = {};
  try {
    for (const writer of ['plain', 'guarded']) {
      let written = 0;
      let lost = 0;
      let failed = 0;
      for (let round = 0; round < RACE_ROUNDS; round++) {
        const repository = `race/${writer}-${round}`;
        const manifests = new Map();
        for (let v = 0; v < 10; v++) {
          const digest = await pushTinyImage(client, repository, {
            tags: [`b${v}`],
            created: new Date(Date.UTC(2024, 0, 1) + v * 86_400_000).toISOString(),
          });
          if (v < 8) manifests.set(digest, (await client.getManifest(repository, digest)).bytes);
        }
        const deletions = [...manifests.keys()].map((digest, v) => ({
          repository: `${host}/${repository}`,
          tag: null,
          tags: [`b${v}`],
          digest,
          rule: 0,
          bytesFreed: 0,
          reason: 'bench',
        }));
        const doomed = [...manifests.keys()];
        const writes = [];
        const write = async (tag, delay) => {
          await new Promise((r) => setTimeout(r, delay));
          const digest = doomed[Math.floor(Math.random() * doomed.length)];
          try {
            if (writer === 'plain')
              await client.putManifest(repository, tag, manifests.get(digest), OCI_MANIFEST);
            else await writeTagsGuarded(client, repository, digest, [tag]);
            writes.push({ tag, digest });
          } catch {
            failed++;
          }
        };
        // The writes land over the time retention spends deleting (about 60-150 ms here).
        await Promise.all([
          applyRetention(deletions, client),
          ...[0, 1, 2].map((k) => write(`w${k}`, Math.random() * 150)),
        ]);
        for (const w of writes) {
          written++;
          if ((await client.headManifest(repository, w.tag))?.digest !== w.digest) lost++;
        }
      }
      out[writer] = { rounds: RACE_ROUNDS, written, lost, failedBeforeWriting: failed };
    }
  } finally {
    await client.close();
  }
  return out;
}

const dir = await mkdtemp(join(tmpdir(), 'arbor-bench-retention-'));
let registry = await startRegistry(dir);
try {
  const { host } = registry;
  const lines = [
    'version: 1',
    'registry:',
    `  url: "${host}"`,
    '  namespace: bench',
    '  insecure: true',
    'images:',
  ];
  for (let r = 0; r < REPOSITORIES; r++)
    lines.push(`  svc-${r}:`, '    from: scratch', '    dockerfile: Dockerfile');
  lines.push('retention:', '  - repositories: ["*"]', '    keep_last: 5', '    keep_tags: ["^stable-"]', '');
  await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\n');
  await writeFile(join(dir, 'images.yaml'), lines.join('\n'));
  const { config } = await loadTree(join(dir, 'images.yaml'));

  const setupClient = createRegistryClient({ registry: host, insecure: true, maxConnections: 16 });
  const setupStart = performance.now();
  await populate(setupClient);
  const setupMs = performance.now() - setupStart;
  await setupClient.close();

  const runs = [];
  for (const concurrency of SECTIONS.has('plan') ? [16, 32] : []) {
    const cacheDir = join(dir, `digest-cache-${concurrency}`);
    const cold = await timedPlan(config, host, concurrency, cacheDir);
    const cache = await cacheSize(cacheDir);
    const warm = [];
    for (let i = 0; i < WARM_RUNS; i++) warm.push(await timedPlan(config, host, concurrency, cacheDir));
    const sameDeletions = warm.every((w) => w.deletionKey === cold.deletionKey);
    const floors = [];
    for (let i = 0; i < 3; i++) floors.push(await registryFloor(host, concurrency));
    const floor = median(floors);
    const strip = ({ deletionKey, ...rest }) => rest;
    runs.push({
      concurrency,
      cold: strip(cold),
      warm: {
        ...strip(median(warm)),
        runs: warm.map((w) => w.wallMs),
        sameDeletionsAsCold: sameDeletions,
        overRegistryFloor: Math.round((median(warm).wallMs / floor.wallMs) * 100) / 100,
      },
      registryFloor: { ...floor, runs: floors.map((f) => f.wallMs) },
      cache,
    });
  }
  let apply;
  if (SECTIONS.has('apply')) ({ registry, result: apply } = await applySection(dir, registry, config));
  const race = SECTIONS.has('race') ? await raceSection(registry.host) : undefined;
  console.log(
    JSON.stringify(
      {
        benchmark: 'retention-plan',
        repositories: REPOSITORIES,
        tagsPerRepository: TAGS,
        targetMs: TARGET_MS,
        registryGOGC: process.env.REGISTRY_GOGC ?? 'default (100)',
        setupMs: Math.round(setupMs),
        loadavg: loadavg().map((l) => Math.round(l * 100) / 100),
        runs,
        ...(apply ? { apply } : {}),
        ...(race ? { race } : {}),
      },
      null,
      2,
    ),
  );
} finally {
  registry.child.kill('SIGTERM');
  await rm(dir, { recursive: true, force: true });
}
