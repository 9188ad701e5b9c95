#!/usr/bin/env node
// Fingerprint benchmark (issue 2, "Speed"): generated OpenStack-shaped trees of 187 and 2,000
// images; cold (no file-hash cache) and warm runs of arbor's own work, measured inside a fresh
// Node process after start-up (module loading included); `sha256sum` over the very same files
// for comparison; and, when the command exists, the wall time of `node bin/arbor.js fingerprint`.
// Prints one JSON document. Needs the compiled code and the CLI bundle: `npm run build` first.
//
//   node bench/fingerprint.mjs [--sizes 187,2000] [--runs 5] [--keep]
//   node bench/fingerprint.mjs --once images.yaml    (one measured run; used by the above)
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateTree } from './lib/generate-tree.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '..');
const DIST = path.join(REPO, 'dist');
const BIN = path.join(REPO, 'bin', 'arbor.js');

const { values } = parseArgs({
  options: {
    once: { type: 'string' },
    sizes: { type: 'string', default: '187,2000' },
    runs: { type: 'string', default: '5' },
    keep: { type: 'boolean', default: false },
  },
});

if (values.once) {
  process.stdout.write(`${JSON.stringify(await onceRun(values.once))}\n`);
} else {
  const runs = Number(values.runs);
  const sizes = values.sizes.split(',').map(Number);
  const results = [];
  for (const size of sizes)
    results.push(await benchSize(size, size > 500 ? Math.max(3, Math.ceil(runs / 2)) : runs));
  const nodeStart = median(times(runs, () => spawnOk(process.execPath, ['-e', '0'])));
  process.stdout.write(
    `${JSON.stringify(
      {
        benchmark: 'fingerprint',
        node: process.version,
        nodeStartupMs: round(nodeStart),
        note: 'ms are medians; "own" = inside the process after Node start-up, module loading included; page cache warm for all',
        targets: { warm187OwnMs: 300, coldVsSha256sum: 1.5 },
        results,
      },
      null,
      2,
    )}\n`,
  );
}

/** One fingerprint run of a tree, timed from before arbor's modules are loaded to the saved cache. */
async function onceRun(file) {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const dist = (p) => import(path.join(DIST, p));
  const [{ loadConfig }, { ImageGraph }, { createRenderer }, { fingerprintImages }, cacheModule] =
    await Promise.all([
      dist('config/load.js'),
      dist('graph/graph.js'),
      dist('render/render.js'),
      dist('fingerprint/compute.js'),
      dist('fingerprint/cache.js'),
    ]);
  const t1 = performance.now();
  const config = await loadConfig(path.resolve(file));
  const order = ImageGraph.fromConfig(config).topologicalOrder();
  const renderer = createRenderer(config);
  const t2 = performance.now();
  const cache = await cacheModule.FileHashCache.load(cacheModule.fileHashCachePath(config.root));
  const t3 = performance.now();
  const stats = { filesRead: 0, bytesRead: 0, cacheHits: 0 };
  const images = await fingerprintImages({
    config,
    order,
    renderDockerfile: (image, parentRef) => renderer.renderDockerfile(image, parentRef),
    resolveBase: async (ref) => {
      throw new Error(`the benchmark tree has no external base (${ref})`);
    },
    env: process.env,
    cache,
    stats,
  });
  const t4 = performance.now();
  await cache.save();
  const t5 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const { createHash } = await import('node:crypto');
  const all = createHash('sha256');
  for (const name of order) all.update(`${name} ${images.get(name).fingerprint}\n`);
  return {
    ownMs: t5 - t0,
    // CPU time (all threads) of the same span: far less sensitive to other load on the machine.
    ownCpuMs: (cpu.user + cpu.system) / 1000,
    phasesMs: {
      importModules: t1 - t0,
      loadConfigGraph: t2 - t1,
      loadCache: t3 - t2,
      fingerprint: t4 - t3,
      saveCache: t5 - t4,
    },
    images: images.size,
    ...stats,
    maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    fingerprintsDigest: all.digest('hex'),
  };
}

async function benchSize(size, runs) {
  const root = await mkdtemp(path.join(tmpdir(), `arbor-bench-${size}-`));
  try {
    const t = performance.now();
    const tree = await generateTree(root, { images: size });
    const generateMs = performance.now() - t;
    // Files changed in the last moments before a run are not cached ("racily clean"); wait them out.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const cacheFile = path.join(root, '.arbor', 'cache', 'file-hashes.json');
    const listFile = path.join(root, 'files.list');
    await writeFile(listFile, tree.sentFiles.join('\0'));

    const sha256sum = () => spawnOk('sh', ['-c', `xargs -0 sha256sum < '${listFile}' > /dev/null`]);
    sha256sum(); // warm the page cache for everyone
    const shaMs = median(times(runs, sha256sum));

    const once = () => {
      const r = spawnOk(process.execPath, [fileURLToPath(import.meta.url), '--once', tree.file]);
      return JSON.parse(r.stdout);
    };
    const cold = [];
    for (let i = 0; i < runs; i++) {
      await rm(cacheFile, { force: true });
      cold.push(once());
    }
    const warm = [];
    for (let i = 0; i < runs; i++) warm.push(once());
    const digests = new Set([...cold, ...warm].map((r) => r.fingerprintsDigest));

    const cli = await cliTimes(tree.file, cacheFile, runs);
    const coldOwn = median(cold.map((r) => r.ownMs));
    const coldHash = median(cold.map((r) => r.phasesMs.fingerprint));
    return {
      images: size,
      levels: tree.levelSizes,
      contextFiles: tree.sentFiles.length,
      bytes: tree.sentBytes,
      generateMs: round(generateMs),
      runs,
      sha256sumMs: round(shaMs),
      cold: summary(cold),
      warm: summary(warm),
      coldOwnVsSha256sum: round(coldOwn / shaMs, 2),
      coldFingerprintPhaseVsSha256sum: round(coldHash / shaMs, 2),
      bytesHashedCold: cold[0].bytesRead,
      bytesHashedWarm: warm[0].bytesRead,
      sameFingerprintsEveryRun: digests.size === 1,
      cli,
    };
  } finally {
    if (!values.keep) await rm(root, { recursive: true, force: true });
  }
}

/** Wall time of the real CLI, when `arbor fingerprint` exists. */
async function cliTimes(file, cacheFile, runs) {
  const probe = spawnSync(process.execPath, [BIN, 'fingerprint', '--help'], { encoding: 'utf8' });
  if (probe.status !== 0) return { skipped: 'arbor fingerprint is not available' };
  const run = () => spawnOk(process.execPath, [BIN, 'fingerprint', '-f', file, '--format', 'json']);
  const cold = [];
  for (let i = 0; i < runs; i++) {
    await rm(cacheFile, { force: true });
    cold.push(time(run));
  }
  const warm = times(runs, run);
  return { coldWallMs: round(median(cold)), warmWallMs: round(median(warm)) };
}

function summary(list) {
  const pick = (f) => round(median(list.map(f)));
  return {
    ownMs: pick((r) => r.ownMs),
    ownCpuMs: pick((r) => r.ownCpuMs),
    phasesMs: Object.fromEntries(Object.keys(list[0].phasesMs).map((k) => [k, pick((r) => r.phasesMs[k])])),
    filesRead: list[0].filesRead,
    cacheHits: list[0].cacheHits,
    maxRssMB: Math.max(...list.map((r) => r.maxRssMB)),
  };
}

function spawnOk(command, args) {
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r;
}

function time(fn) {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

function times(n, fn) {
  return Array.from({ length: n }, () => time(fn));
}

function median(list) {
  const sorted = [...list].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function round(x, digits = 1) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
