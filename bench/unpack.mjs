// arbor unpack (issue 15, section 2): a whole release unpacked into flattened, deduplicated
// trees, against what each image costs unpacked on its own and against `docker export` of each
// (what a site would do without arbor: one full tree per image). Measured on the default tree and
// on the generated 187-image tree, both built and pushed by `arbor apply` into a loopback
// registry first (untimed):
//   cold     `arbor unpack --out OUT` into an empty directory (wall), and the disk it uses
//            (`du`, hard links counted once) next to the sum of each image's flat tree measured
//            alone (`du` per image: what separate unpacks would cost) and the sum of the
//            `docker export` tar sizes;
//   noop     the same command again (every image unchanged);
//   changed  one leaf image's build context changed, `arbor apply`, then `arbor unpack` (wall),
//            with the chains and layers it had to build.
//
//   npm run build && node bench/unpack.mjs [--tree default|generated] [--images 187] [--runs 3] [--no-export]
import { execFileSync, spawnSync } from 'node:child_process';
import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startRegistry } from './lib/registry.mjs';
import { defaultTree, generatedTree } from './lib/trees.mjs';
import { median, run } from './lib/util.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.join(HERE, '..');
const BIN = path.join(REPO, 'bin', 'arbor.js');
const DOCKER = '/usr/bin/docker';

const { values } = parseArgs({
  options: {
    tree: { type: 'string', default: 'default' },
    images: { type: 'string', default: '187' },
    runs: { type: 'string', default: '3' },
    'no-export': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);

const load = () => Math.round(loadavg()[0] * 100) / 100;

function timed(args, cwd) {
  const start = process.hrtime.bigint();
  const stdout = run(process.execPath, [BIN, ...args], { cwd });
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, stdout };
}

/** Bytes on disk, each inode once (du's default). */
const du = (...dirs) =>
  Number(
    run('du', ['-s', '-B1', '-c', ...dirs])
      .trim()
      .split('\n')
      .pop()
      .split(/\s+/)[0],
  );

function removeImages(host) {
  const refs = run(DOCKER, ['images', '--format', '{{.Repository}}:{{.Tag}}'])
    .split('\n')
    .filter((r) => r.startsWith(`${host}/`));
  if (refs.length > 0) spawnSync(DOCKER, ['rmi', '--force', ...refs], { encoding: 'utf8' });
}

/** Sum of `docker export` sizes: what a site unpacking each image on its own gets. */
function exportBytes(references) {
  let total = 0;
  for (const ref of references) {
    const id = run(DOCKER, ['create', ref, 'unused']).trim();
    try {
      total += Number(
        execFileSync('sh', ['-c', `${DOCKER} export ${id} | wc -c`], { encoding: 'utf8' }).trim(),
      );
    } finally {
      spawnSync(DOCKER, ['rm', '-f', id]);
    }
  }
  return total;
}

const registry = await startRegistry({ accessLog: false });
const root = await mkdtemp(path.join(tmpdir(), 'arbor-bench-unpack-'));
const treeDir = path.join(root, 'tree');
try {
  const tree =
    values.tree === 'generated'
      ? await generatedTree(treeDir, registry.host, Number(values.images))
      : await defaultTree(treeDir, registry.host);
  const setupStart = Date.now();
  run(process.execPath, [BIN, 'apply', '--auto-approve', '-f', tree.file], { cwd: treeDir });
  const setupMs = Date.now() - setupStart;

  const cold = [];
  let report;
  let disk;
  for (let i = 0; i < RUNS; i++) {
    const out = path.join(root, `out-${i}`);
    const loadBefore = load();
    const r = timed(['unpack', '--out', out, '--format', 'json', '-f', tree.file], treeDir);
    report = JSON.parse(r.stdout);
    cold.push({ ms: r.ms, load: loadBefore });
    if (i === 0) {
      const flats = report.images.map((img) => path.join(out, img.flat) + path.sep);
      disk = {
        unpackedBytes: du(out),
        storeBytes: du(path.join(out, '.store')),
        sumOfFlatTreesBytes: flats.reduce((n, f) => n + du(f), 0),
        images: report.images.length,
        chains: report.chainsBuilt,
        storeFiles: report.store.filesAdded,
        filesReused: report.store.filesReused,
      };
      if (!values['no-export']) {
        const refs = report.images.map((img) => img.reference);
        for (const ref of refs) run(DOCKER, ['pull', '-q', ref]);
        disk.dockerExportBytes = exportBytes(refs);
      }
    }
    if (i > 0) await rm(out, { recursive: true, force: true });
  }
  const out = path.join(root, 'out-0');
  const noop = [];
  for (let i = 0; i < RUNS; i++) noop.push(timed(['unpack', '--out', out, '-f', tree.file], treeDir).ms);

  const changed = [];
  for (let i = 0; i < RUNS; i++) {
    await appendFile(tree.changed, `change ${i}\n`);
    run(process.execPath, [BIN, 'apply', '--auto-approve', '-f', tree.file], { cwd: treeDir });
    const loadBefore = load();
    const r = timed(['unpack', '--out', out, '--format', 'json', '-f', tree.file], treeDir);
    const rep = JSON.parse(r.stdout);
    changed.push({
      ms: r.ms,
      load: loadBefore,
      unpacked: rep.images.filter((img) => img.status === 'unpacked').length,
      chainsBuilt: rep.chainsBuilt,
      layersDownloaded: rep.layersDownloaded,
    });
  }
  const unpackedAfter = du(out);

  console.log(
    JSON.stringify(
      {
        tree: values.tree,
        images: report.images.length,
        setupApplyMs: setupMs,
        cold: { medianMs: Math.round(median(cold.map((c) => c.ms))), runs: cold },
        disk: {
          ...disk,
          ratioToSumOfFlatTrees: Math.round((disk.unpackedBytes / disk.sumOfFlatTreesBytes) * 1000) / 1000,
          ...(disk.dockerExportBytes
            ? { ratioToDockerExport: Math.round((disk.unpackedBytes / disk.dockerExportBytes) * 1000) / 1000 }
            : {}),
          unpackedAfterChangesBytes: unpackedAfter,
        },
        noop: { medianMs: Math.round(median(noop)), runs: noop.map(Math.round) },
        oneImageChanged: { medianMs: Math.round(median(changed.map((c) => c.ms))), runs: changed },
        loadAverage1m: load(),
      },
      null,
      2,
    ),
  );
} finally {
  removeImages(registry.host);
  await registry.stop();
  if (!values.keep) await rm(root, { recursive: true, force: true });
}
