// The tag flip (issue 12: "flip window for 187 images × 2 tags on loopback; target ≤ 1 s"): the
// generated tree's images in a loopback registry (tiny images uploaded by arbor's client, as in
// plan-noop), then tag-only applies that each add two tag templates — 187 × 2 new tags written in
// apply's final burst — alternated with the registry's floor: the same number of manifest PUTs
// (the same manifests, other tags) sent bare on an undici Pool with as many connections as arbor
// uses (16), timed from the first request sent to the last answer. The window arbor reports
// (`Tags: N written together in X ms`) is measured the same way.
//
//   npm run build && node bench/flip.mjs [--images 187] [--runs 5] [--keep]
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pLimit from 'p-limit';
import { Pool } from 'undici';
import { createRegistryClient } from '../dist/registry/client.js';
import { generateTree } from './lib/generate-tree.mjs';
import { publishPlanned, startRegistry } from './lib/registry.mjs';
import { median, round } from './lib/util.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(HERE, '..', 'bin', 'arbor.js');
const CONNECTIONS = 16;

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '187' },
    runs: { type: 'string', default: '5' },
    keep: { type: 'boolean', default: false },
  },
});
const IMAGES = Number(values.images);
const RUNS = Number(values.runs);

function arbor(args, cwd) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: { ...process.env, CI: '1' },
  });
  if (r.status !== 0) throw new Error(`arbor ${args.join(' ')} exited ${r.status}: ${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** `count` manifest PUTs (each of `manifests` under new tags), bare: first sent → last answered. */
async function floor(host, manifests, suffixes) {
  const pool = new Pool(`http://${host}`, { connections: CONNECTIONS });
  const limit = pLimit(CONNECTIONS);
  const started = performance.now();
  await Promise.all(
    manifests.flatMap(({ repository, mediaType, bytes }) =>
      suffixes.map((tag) =>
        limit(async () => {
          const r = await pool.request({
            method: 'PUT',
            path: `/v2/${repository}/manifests/${tag}`,
            headers: { 'content-type': mediaType },
            body: bytes,
          });
          await r.body.dump();
          if (r.statusCode !== 201) throw new Error(`PUT ${repository}:${tag}: ${r.statusCode}`);
        }),
      ),
    ),
  );
  const ms = performance.now() - started;
  await pool.close();
  return ms;
}

const root = await mkdtemp(path.join(tmpdir(), 'arbor-bench-flip-'));
const registry = await startRegistry({ accessLog: false });
const loadStart = loadavg()[0];
try {
  const tree = await generateTree(root, { images: IMAGES, filesPerImage: 4 });
  // The generated tree has no top-level tag templates: they go before `images:`.
  const withTags = (yaml, tags) =>
    yaml.replace('\nimages:\n', `\ntags:\n${tags.map((t) => `  - "${t}"`).join('\n')}\nimages:\n`);
  const base = (await readFile(tree.file, 'utf8')).replace('url: 127.0.0.1:5000', `url: "${registry.host}"`);
  await writeFile(tree.file, withTags(base, ['{{ release }}', '{{ release }}-bench']));
  const plan = JSON.parse(arbor(['plan', '--format', 'json', '-f', tree.file], root));
  const client = createRegistryClient({ registry: registry.host, insecure: true });
  await publishPlanned(client, registry.host, plan);
  const manifests = await Promise.all(
    plan.images.map(async (image) => {
      const repository = image.repository.slice(registry.host.length + 1);
      const m = await client.getManifest(repository, image.fingerprintTag);
      return { repository, mediaType: m.mediaType, bytes: m.bytes };
    }),
  );
  await client.close();

  const arborRuns = [];
  const floorRuns = [];
  for (let i = 0; i < RUNS; i++) {
    // Alternated, so the machine's load hits both alike.
    const tags = [
      '{{ release }}',
      '{{ release }}-bench',
      `{{ release }}-flip${i}a`,
      `{{ release }}-flip${i}b`,
    ];
    await writeFile(tree.file, withTags(base, tags));
    const out = arbor(['apply', '--auto-approve', '-f', tree.file], root);
    const m = /Tags: (\d+) written together in ([\d.]+) ms/.exec(out);
    if (!m || Number(m[1]) !== IMAGES * 2)
      throw new Error(`run ${i}: no flip of ${IMAGES * 2} tags:\n${out}`);
    arborRuns.push(Number(m[2]));
    floorRuns.push(await floor(registry.host, manifests, [`floor${i}a`, `floor${i}b`]));
  }
  console.log(
    JSON.stringify(
      {
        benchmark: 'flip',
        images: IMAGES,
        tags: IMAGES * 2,
        node: process.version,
        loadAverage1m: { start: round(loadStart), end: round(loadavg()[0]) },
        arbor: { windowMs: round(median(arborRuns)), runsMs: arborRuns.map(round) },
        bareFloor: {
          connections: CONNECTIONS,
          windowMs: round(median(floorRuns)),
          runsMs: floorRuns.map(round),
        },
        ratioToFloor: round(median(arborRuns) / median(floorRuns)),
        targetMs: 1000,
      },
      null,
      2,
    ),
  );
} finally {
  await registry.stop();
  if (!values.keep) await rm(root, { recursive: true, force: true });
}
