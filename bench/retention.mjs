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
//   npx tsc -p tsconfig.build.json && node bench/retention.mjs        (prints JSON)
//   env REPOSITORIES, TAGS, WARM_RUNS (default 5); REGISTRY_GOGC sets the registry's GOGC (its
//   garbage collector is half its CPU per request at the default 100) to see arbor against a faster registry
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pLimit from 'p-limit';
import { Pool } from 'undici';
import { loadTree } from '../dist/plan/desired.js';
import { createRegistryClient } from '../dist/registry/client.js';
import { planRetentionDetailed } from '../dist/retention/index.js';

const REPOSITORIES = Number(process.env.REPOSITORIES ?? 50);
const TAGS = Number(process.env.TAGS ?? 200);
const WARM_RUNS = Number(process.env.WARM_RUNS ?? 5);
const TARGET_MS = 2000;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const sha256 = (bytes) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function freePort() {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

async function startRegistry(dir) {
  const port = await freePort();
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
    if (ok) return { host: `127.0.0.1:${port}`, child };
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

const dir = await mkdtemp(join(tmpdir(), 'arbor-bench-retention-'));
const { host, child } = await startRegistry(dir);
try {
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
  for (const concurrency of [16, 32]) {
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
      },
      null,
      2,
    ),
  );
} finally {
  child.kill('SIGTERM');
  await rm(dir, { recursive: true, force: true });
}
