#!/usr/bin/env node
// Issue 13. A Kolla tree in arbor: the no-op `arbor plan` of the tree `arbor import-kolla` made
// from a Kolla checkout, side by side with what a Kolla user runs today just to render that
// tree: `kolla-build --template-only` of the same checkout and base. Also timed: the import
// itself and `arbor render` of every Dockerfile (the work --template-only does).
//
// kolla-build needs a complete Kolla checkout (the shared snapshot keeps only what rendering
// needs, not kolla-build itself): `--kolla DIR` or KOLLA_SRC. It runs from Debian's Python
// packages, installed here with apt-get when missing (root) — only for this benchmark, never in
// CI. The external base image is a stand-in in a loopback registry (nothing can be pulled here);
// every image of the tree is put in that registry under its fingerprint tag and its Kolla tag
// (uploaded by arbor's registry client, not built), so the plan has nothing to do.
//
//   npm run build && node bench/kolla.mjs --kolla ~/src/kolla --base rocky --runs 5
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pLimit from 'p-limit';
import { createRegistryClient } from '../dist/registry/client.js';
import { pushTinyImage, startRegistry } from './lib/registry.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(HERE, '..', 'bin', 'arbor.js');
const PYTHON = '/usr/bin/python3';
const DEBIAN_PACKAGES = [
  'python3-oslo.config',
  'python3-jinja2',
  'python3-docker',
  'python3-git',
  'python3-pbr',
  'python3-oslo.utils',
  'python3-netaddr',
  'python3-setuptools',
];

const { values } = parseArgs({
  options: {
    kolla: { type: 'string', default: process.env.KOLLA_SRC ?? '' },
    base: { type: 'string', default: 'rocky' },
    runs: { type: 'string', default: '5' },
    keep: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const KOLLA = path.resolve(values.kolla);
if (!values.kolla || !existsSync(path.join(KOLLA, 'kolla', 'cmd', 'build.py'))) {
  process.stderr.write(
    'bench/kolla: give a complete Kolla checkout with --kolla DIR (or KOLLA_SRC): kolla/cmd/build.py is needed to run kolla-build\n',
  );
  process.exit(1);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const round = (x) => Math.round(x);
const load = () => Math.round(loadavg()[0] * 10) / 10;

function timed(command, args, options = {}) {
  const started = performance.now();
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  const wallMs = performance.now() - started;
  if (r.status !== 0)
    throw new Error(`${command} ${args.join(' ')} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  return { stdout: r.stdout, wallMs };
}

const arbor = (args) => timed(process.execPath, [BIN, ...args]);

/** kolla-build's Python dependencies, from Debian, for this benchmark only. */
function ensureKollaBuild() {
  const probe = () =>
    spawnSync(PYTHON, ['-c', 'import oslo_config, jinja2, docker, git, pbr, oslo_utils, netaddr'], {
      stdio: 'ignore',
    }).status === 0;
  if (probe()) return;
  process.stderr.write(
    `bench/kolla: installing kolla-build's dependencies: apt-get install ${DEBIAN_PACKAGES.join(' ')}\n`,
  );
  const r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...DEBIAN_PACKAGES], {
    stdio: 'inherit',
  });
  if (r.status !== 0 || !probe()) throw new Error('could not install the Python packages kolla-build needs');
}

function countDockerfiles(dir) {
  let n = 0;
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name === 'Dockerfile') n++;
    }
  };
  walk(dir);
  return n;
}

const root = await mkdtemp(path.join(tmpdir(), 'arbor-bench-kolla-'));
const registry = await startRegistry({ accessLog: false });
try {
  ensureKollaBuild();

  // kolla-build --template-only, each run into a fresh work directory.
  const kollaRuns = [];
  let kollaDockerfiles = 0;
  const kollaLoad = [load()];
  for (let i = 0; i < RUNS; i++) {
    const workDir = path.join(root, `kolla-build-${i}`);
    const run = timed(
      PYTHON,
      ['-m', 'kolla.cmd.build', '--template-only', '--base', values.base, '--work-dir', workDir],
      {
        cwd: KOLLA,
        env: { ...process.env, PBR_VERSION: process.env.PBR_VERSION ?? '1.0.0' },
      },
    );
    kollaRuns.push(run.wallMs);
    kollaDockerfiles = countDockerfiles(path.join(workDir, 'docker'));
  }
  kollaLoad.push(load());

  // arbor: import, stand-in base, render, then every image in the registry.
  const project = path.join(root, 'project');
  const importLoad = load();
  const imported = arbor([
    'import-kolla',
    KOLLA,
    '--out',
    project,
    '--base',
    values.base,
    '--registry',
    registry.host,
    '--insecure',
    '-o',
    `base_image=${registry.host}/stand-in/${values.base}`,
  ]);
  const file = path.join(project, 'images.yaml');
  const client = createRegistryClient({ registry: registry.host, insecure: true });
  const from = /^ {4}from: (\S+)$/m.exec(readFileSync(file, 'utf8'))[1];
  const ref = from.slice(registry.host.length + 1);
  await pushTinyImage(client, ref.slice(0, ref.lastIndexOf(':')), {
    tags: [ref.slice(ref.lastIndexOf(':') + 1)],
  });

  const renderRuns = [];
  for (let i = 0; i < RUNS; i++)
    renderRuns.push(arbor(['render', '-f', file, '--out', path.join(root, `render-${i}`)]).wallMs);

  const plan = JSON.parse(arbor(['plan', '--format', 'json', '-f', file]).stdout);
  const limit = pLimit(8);
  await Promise.all(
    plan.images.map((image) =>
      limit(() =>
        pushTinyImage(client, image.repository.slice(registry.host.length + 1), {
          tags: [...image.tags, image.fingerprintTag],
        }),
      ),
    ),
  );
  await client.close();

  // One untimed no-op plan (writes the caches a user's second plan has), then the timed ones.
  const check = arbor(['plan', '-f', file]);
  if (!/^No changes/m.test(check.stdout))
    throw new Error(`expected a no-op plan, got:\n${check.stdout.slice(0, 2000)}`);
  const planLoad = [load()];
  const planRuns = [];
  for (let i = 0; i < RUNS; i++) planRuns.push(arbor(['plan', '-f', file]).wallMs);
  planLoad.push(load());

  const kollaMedian = median(kollaRuns);
  const planMedian = median(planRuns);
  process.stdout.write(
    `${JSON.stringify(
      {
        kollaCheckout: KOLLA,
        base: values.base,
        images: plan.images.length,
        kollaBuildTemplateOnly: {
          medianMs: round(kollaMedian),
          runsMs: kollaRuns.map(round),
          dockerfiles: kollaDockerfiles,
          loadAverage1m: kollaLoad,
        },
        arborNoopPlan: { medianMs: round(planMedian), runsMs: planRuns.map(round), loadAverage1m: planLoad },
        arborRender: { medianMs: round(median(renderRuns)), runsMs: renderRuns.map(round) },
        arborImport: { wallMs: round(imported.wallMs), loadAverage1m: importLoad },
        kollaBuildOverNoopPlan: Math.round((kollaMedian / planMedian) * 100) / 100,
        node: process.version,
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await registry.stop();
  if (!values.keep) await rm(root, { recursive: true, force: true });
}
