// Benchmark: observe 187 repositories (one HEAD of one tag each) on a loopback registry, the way
// `arbor plan` asks the registry what exists. Prints JSON: wall time, requests, connections, and
// the same observation done with `skopeo inspect` per image, for the ratio.
//
// Usage: npx tsc -p tsconfig.build.json && node bench/observe.mjs [--images 187] [--runs 5]
import { execFile } from 'node:child_process';
import { loadavg } from 'node:os';
import { promisify } from 'node:util';
import pLimit from 'p-limit';
import { Pool } from 'undici';
import { createRegistryClient } from '../dist/registry/client.js';
import { pushTinyImage, startRegistry } from './lib/registry.mjs';

const run = promisify(execFile);
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const IMAGES = arg('images', 187);
const RUNS = arg('runs', 5);
const TAG = '2025.1';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** One small image per repository: a layer, a config, a manifest, uploaded by arbor's client. */
async function pushRepositories(host, names) {
  const client = createRegistryClient({ registry: host, insecure: true });
  const limit = pLimit(8);
  await Promise.all(
    names.map((name) =>
      limit(() =>
        pushTinyImage(client, name, {
          tags: [TAG],
          layerSize: 512,
          labels: { 'org.arbor.fingerprint': name },
        }),
      ),
    ),
  );
  await client.close();
}

/** What the planner does: a fresh client (cold pool), one HEAD per image, all in flight. */
async function observeWithArbor(host, names) {
  const client = createRegistryClient({ registry: host, insecure: true });
  const started = performance.now();
  const heads = await Promise.all(names.map((name) => client.headManifest(name, TAG)));
  const wallMs = performance.now() - started;
  const found = heads.filter(Boolean).length;
  const { requests, connections } = client.stats;
  await client.close();
  if (found !== names.length) throw new Error(`arbor found ${found} of ${names.length} images`);
  return { wallMs, requests, connections };
}

/**
 * The floor: the same HEADs on a bare undici Pool (no auth, retry, logging layers), so the
 * cost of arbor's layers can be told apart from the registry's and the machine's.
 */
async function observeWithBareUndici(host, names) {
  const pool = new Pool(`http://${host}`, { connections: 8, pipelining: 1 });
  const started = performance.now();
  await Promise.all(
    names.map(async (name) => {
      const r = await pool.request({
        method: 'HEAD',
        reset: false,
        path: `/v2/${name}/manifests/${TAG}`,
        headers: { accept: OCI_MANIFEST },
      });
      await r.body.dump();
    }),
  );
  const wallMs = performance.now() - started;
  await pool.close();
  return wallMs;
}

async function observeWithSkopeo(host, names, concurrency) {
  const limit = pLimit(concurrency);
  const started = performance.now();
  await Promise.all(
    names.map((name) =>
      limit(() => run('skopeo', ['inspect', '--tls-verify=false', `docker://${host}/${name}:${TAG}`])),
    ),
  );
  return { wallMs: performance.now() - started, processes: names.length, concurrency };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (x) => Math.round(x * 10) / 10;

const registry = await startRegistry({ accessLog: false });
try {
  const names = Array.from({ length: IMAGES }, (_, i) => `bench/service-${String(i).padStart(3, '0')}`);
  await pushRepositories(registry.host, names);
  const runs = [];
  const bare = [];
  for (let i = 0; i < RUNS; i++) {
    runs.push(await observeWithArbor(registry.host, names));
    bare.push(await observeWithBareUndici(registry.host, names));
  }
  const skopeoSequential = await observeWithSkopeo(registry.host, names, 1);
  const skopeoParallel = await observeWithSkopeo(registry.host, names, 8);
  const arborMs = median(runs.map((r) => r.wallMs));
  const worst = runs.reduce((a, b) => (b.wallMs > a.wallMs ? b : a));
  const result = {
    benchmark: 'observe',
    images: IMAGES,
    node: process.version,
    loadAverage1m: round(loadavg()[0]),
    arbor: {
      wallMs: round(arborMs),
      wallMsRuns: runs.map((r) => round(r.wallMs)),
      requests: worst.requests,
      requestsPerImage: worst.requests / IMAGES,
      connections: Math.max(...runs.map((r) => r.connections)),
    },
    bareUndiciWallMs: round(median(bare)),
    skopeo: {
      sequentialWallMs: round(skopeoSequential.wallMs),
      parallel8WallMs: round(skopeoParallel.wallMs),
    },
    ratio: {
      skopeoSequentialOverArbor: round(skopeoSequential.wallMs / arborMs),
      skopeoParallel8OverArbor: round(skopeoParallel.wallMs / arborMs),
    },
    targets: {
      wallMsAtMost300: arborMs <= 300,
      requestsPerImageAtMost1: worst.requests / IMAGES <= 1,
      connectionsAtMost8: Math.max(...runs.map((r) => r.connections)) <= 8,
    },
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
} finally {
  await registry.stop();
}
