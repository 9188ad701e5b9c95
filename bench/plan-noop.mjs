// No-op plan (issue 4, "Speed"): the 187-image OpenStack-shaped tree of bench/lib/generate-tree.mjs
// with every image already in a loopback registry under all its tags; `node bin/arbor.js plan`
// timed as a user runs it (wall, Node start-up included). It must print "No changes".
// Target: ≤ 1 s. Prints JSON: { images, medianMs, runsMs[], requests, … }.
//
// The images are put in the registry without building (187 docker builds would take minutes):
// one `plan --format json` gives every image's fingerprint tag and tags; each repository gets a
// tiny layer and config blob (the config carries the fingerprint label, as arbor's builds do) and
// one manifest, PUT under the fingerprint tag and every tag the tag templates produce.
//
//   npm run build && node bench/plan-noop.mjs [--images 187] [--runs 7] [--files 20] [--tags 2] [--keep]
//                                             [--profile DIR]   (one more run under --cpu-prof)
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createRegistryClient } from '../dist/registry/client.js';
import { generateTree } from './lib/generate-tree.mjs';
import { publishPlanned, startRegistry } from './lib/registry.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(HERE, '..', 'bin', 'arbor.js');
const TARGET_MS = 1000;
// Tag templates every image carries besides its fingerprint tag, like a release's `2025.1` and
// `2025.1-p5`; each costs one HEAD per image in a no-op plan (is the tag still here?).
const TAG_TEMPLATE_POOL = ['{{ release }}', '{{ release }}-bench', '{{ release }}-{{ image.name }}'];

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '187' },
    runs: { type: 'string', default: '7' },
    files: { type: 'string', default: '20' },
    tags: { type: 'string', default: '2' },
    keep: { type: 'boolean', default: false },
    // Also run one plan under `node --cpu-prof`, writing the .cpuprofile into this directory.
    profile: { type: 'string' },
  },
});
const IMAGES = Number(values.images);
const RUNS = Number(values.runs);
const TAG_TEMPLATES = TAG_TEMPLATE_POOL.slice(0, Number(values.tags));

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const round = (x) => Math.round(x * 10) / 10;

function arbor(args, cwd, nodeFlags = []) {
  const started = performance.now();
  const r = spawnSync(process.execPath, [...nodeFlags, BIN, ...args], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const wallMs = performance.now() - started;
  if (r.status !== 0) throw new Error(`arbor ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { stdout: r.stdout, wallMs };
}

/** The generated tree, pointed at the benchmark's registry, with tag templates like a release's. */
async function prepareTree(root, host) {
  const tree = await generateTree(root, { images: IMAGES, filesPerImage: Number(values.files) });
  let yaml = (await readFile(tree.file, 'utf8')).replace('url: 127.0.0.1:5000', `url: "${host}"`);
  if (TAG_TEMPLATES.length > 0)
    yaml = yaml.replace(
      '\nimages:\n',
      `\ntags:\n${TAG_TEMPLATES.map((t) => `  - "${t}"`).join('\n')}\nimages:\n`,
    );
  await writeFile(tree.file, yaml);
  return tree;
}

/** Every planned image in the registry, with every tag the plan wants, uploaded by arbor's client. */
async function publish(host, plan) {
  const client = createRegistryClient({ registry: host, insecure: true });
  await publishPlanned(client, host, plan);
  await client.close();
}

const root = await mkdtemp(path.join(tmpdir(), 'arbor-bench-plan-noop-'));
const registry = await startRegistry();
try {
  const tree = await prepareTree(root, registry.host);
  const file = tree.file;
  const first = JSON.parse(arbor(['plan', '--format', 'json', '-f', file], root).stdout);
  if (first.summary.build !== IMAGES)
    throw new Error(
      `expected ${IMAGES} images to build on an empty registry, got ${JSON.stringify(first.summary)}`,
    );
  await publish(registry.host, first);

  // One untimed run: the file-hash cache is written by the first plan already, and the page
  // cache is warm for everyone; this one checks the result.
  const check = arbor(['plan', '-f', file], root).stdout;
  if (!check.includes('No changes')) throw new Error(`plan after publishing is not a no-op:\n${check}`);

  // Alternated: a plan as users run it (the previous plan's HEADs prefetched, see
  // src/plan/prefetch.ts), and one without the prefetch list (as the first plan of a tree).
  const prefetchList = path.join(root, '.arbor', 'cache', 'observe-prefetch.json');
  const runsMs = [];
  const runsWithoutPrefetchMs = [];
  let requests;
  let requestsWithoutPrefetch;
  for (let i = 0; i < RUNS; i++) {
    for (const prefetch of [true, false]) {
      if (!prefetch) await rm(prefetchList, { force: true });
      const mark = await registry.logMark();
      const { stdout, wallMs } = arbor(['plan', '-f', file], root);
      if (!stdout.includes('No changes')) throw new Error(`run ${i}: not a no-op:\n${stdout}`);
      (prefetch ? runsMs : runsWithoutPrefetchMs).push(wallMs);
      if (i === 0 && prefetch) requests = await registry.requestsSince(mark);
      if (i === 0 && !prefetch) requestsWithoutPrefetch = (await registry.requestsSince(mark)).length;
    }
  }
  if (values.profile)
    arbor(['plan', '-f', file], root, ['--cpu-prof', '--cpu-prof-dir', path.resolve(values.profile)]);
  const nodeStartupMs = median(
    Array.from({ length: 5 }, () => {
      const t = performance.now();
      spawnSync(process.execPath, ['-e', '0']);
      return performance.now() - t;
    }),
  );
  const byMethod = {};
  for (const r of requests) byMethod[r.method] = (byMethod[r.method] ?? 0) + 1;
  const medianMs = median(runsMs);
  process.stdout.write(
    `${JSON.stringify(
      {
        benchmark: 'plan-noop',
        images: IMAGES,
        tagsPerImage: first.images[0].tags.length + 1,
        contextFiles: tree.sentFiles.length,
        node: process.version,
        loadAverage1m: round(loadavg()[0]),
        medianMs: round(medianMs),
        runsMs: runsMs.map(round),
        withoutPrefetch: {
          medianMs: round(median(runsWithoutPrefetchMs)),
          runsMs: runsWithoutPrefetchMs.map(round),
          requests: requestsWithoutPrefetch,
        },
        nodeStartupMs: round(nodeStartupMs),
        requests: requests.length,
        requestsByMethod: byMethod,
        requestsPerImage: round(requests.length / IMAGES),
        targetMs: TARGET_MS,
        withinTarget: medianMs <= TARGET_MS,
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await registry.stop();
  if (!values.keep) await rm(root, { recursive: true, force: true });
  else process.stderr.write(`plan-noop: tree kept in ${root}\n`);
}
