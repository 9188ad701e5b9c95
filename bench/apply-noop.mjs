// No-op apply versus what teams do today (issue 4, "Speed"). A 20-image tree (the OpenStack
// shape of bench/lib/generate-tree.mjs, scaled down, with a busybox base so RUN steps work) is
// built and pushed once for real by `arbor apply --auto-approve` against a loopback registry.
// Then, with nothing changed:
//   arbor: `node bin/arbor.js apply --auto-approve` (wall, Node start-up included);
//   naive: `docker build` of every image in topological order with the layer cache
//          (DOCKER_BUILDKIT=1, the Dockerfiles from `arbor render --out`), then `docker push` of
//          every tag, one command after the other as a CI script does. One untimed naive pass
//          first, so its layer cache is warm: the comparison is against naive at its fastest.
// Blob uploads are counted in the registry's access log. Target: ≥ 10× faster, 0 bytes uploaded.
// Prints JSON: { arborMs, naiveMs, ratio, arborBytesUploaded, naiveUploads, … }. Removes the
// images it made (by the benchmark registry's unique host:port) and its temporary directories.
//
//   npm run build && node bench/apply-noop.mjs [--images 20] [--runs 5] [--naive-runs 2] [--keep]
import { spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateTree } from './lib/generate-tree.mjs';
import { blobUploadTraffic, startRegistry } from './lib/registry.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(HERE, '..', 'bin', 'arbor.js');
const DOCKER = '/usr/bin/docker';
const BUSYBOX = '/bin/busybox';
const TARGET_RATIO = 10;
const TAG_TEMPLATES = ['{{ release }}', '{{ release }}-bench'];

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '20' },
    runs: { type: 'string', default: '5' },
    'naive-runs': { type: 'string', default: '2' },
    keep: { type: 'boolean', default: false },
  },
});
const IMAGES = Number(values.images);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const round = (x) => Math.round(x * 10) / 10;

function run(command, args, options = {}) {
  const r = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (r.status !== 0)
    throw new Error(`${command} ${args.join(' ')} exited ${r.status ?? r.signal}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}
const arbor = (args, cwd) => run(process.execPath, [BIN, ...args], { cwd });
const timed = (fn) => {
  const started = performance.now();
  const result = fn();
  return { result, ms: performance.now() - started };
};

/**
 * The generated tree made buildable here: the base copies busybox-static in and installs its
 * applets (nothing can be pulled), every other image builds FROM its parent as generated.
 */
async function prepareTree(root, host) {
  const tree = await generateTree(root, { images: IMAGES, filesPerImage: 8, bigFileEvery: 1_000_000 });
  await copyFile(BUSYBOX, path.join(root, 'images', 'base', 'busybox'));
  await writeFile(
    path.join(root, 'templates', 'base.Dockerfile.njk'),
    [
      '{% extends "layout.Dockerfile.njk" %}',
      '{% block install %}',
      'COPY busybox /bin/busybox',
      'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
      '{% endblock %}',
      '',
    ].join('\n'),
  );
  const yaml = (await readFile(tree.file, 'utf8'))
    .replace('url: 127.0.0.1:5000', `url: "${host}"`)
    .replace('\nimages:\n', `\ntags:\n${TAG_TEMPLATES.map((t) => `  - "${t}"`).join('\n')}\nimages:\n`)
    .replace('    template: layout.Dockerfile.njk', '    template: base.Dockerfile.njk');
  await writeFile(tree.file, yaml);
  return tree;
}

/** Today's way: build every image in order with the layer cache, then push every tag. */
function naiveBuildAndPush(plan, renderDir, root) {
  for (const image of plan.images) {
    const refs = [...image.tags, image.fingerprintTag].map((tag) => `${image.repository}:${tag}`);
    const args = Object.entries(image.build.args).flatMap(([k, v]) => ['--build-arg', `${k}=${v}`]);
    run(
      DOCKER,
      [
        'build',
        '--network=none',
        '--quiet',
        ...refs.flatMap((ref) => ['-t', ref]),
        ...args,
        '-f',
        path.join(renderDir, image.name, 'Dockerfile'),
        path.join(root, image.build.context),
      ],
      { env: { ...process.env, DOCKER_BUILDKIT: '1' } },
    );
  }
  let pushes = 0;
  for (const image of plan.images)
    for (const tag of [...image.tags, image.fingerprintTag]) {
      run(DOCKER, ['push', `${image.repository}:${tag}`]);
      pushes++;
    }
  return pushes;
}

/** Every local image of the benchmark registry (its host:port is unique to this run). */
function removeImages(host) {
  const refs = run(DOCKER, ['images', '--format', '{{.Repository}}:{{.Tag}}'])
    .split('\n')
    .filter((ref) => ref.startsWith(`${host}/`));
  if (refs.length > 0) spawnSync(DOCKER, ['rmi', '--force', ...refs], { encoding: 'utf8' });
  return refs.length;
}

const root = await mkdtemp(path.join(tmpdir(), 'arbor-bench-apply-noop-'));
const registry = await startRegistry();
try {
  const tree = await prepareTree(root, registry.host);
  const file = tree.file;

  // Build and push everything once, for real.
  const firstMark = await registry.logMark();
  const first = timed(() => arbor(['apply', '--auto-approve', '-f', file], root));
  const firstRequests = await registry.requestsSince(firstMark);
  const firstUploadedBytes = await registry.uploadedBytes(firstRequests);

  const plan = JSON.parse(arbor(['plan', '--format', 'json', '-f', file], root));
  if (plan.summary.none !== IMAGES)
    throw new Error(`after the first apply the plan is not a no-op: ${JSON.stringify(plan.summary)}`);

  // arbor, nothing changed.
  const arborRuns = [];
  let arborRequests = [];
  for (let i = 0; i < Number(values.runs); i++) {
    const mark = await registry.logMark();
    const { result, ms } = timed(() => arbor(['apply', '--auto-approve', '-f', file], root));
    if (!result.includes('No changes')) throw new Error(`no-op apply did something:\n${result}`);
    arborRuns.push(ms);
    arborRequests = arborRequests.concat(await registry.requestsSince(mark));
  }
  const arborUploads = blobUploadTraffic(arborRequests);
  const arborBytesUploaded = await registry.uploadedBytes(arborRequests);

  // Today's way, on the same tree and Dockerfiles.
  const renderDir = path.join(root, 'rendered');
  arbor(['render', '--out', renderDir, '-f', file], root);
  const warm = timed(() => naiveBuildAndPush(plan, renderDir, root));
  const naiveRuns = [];
  let naiveRequests = [];
  let pushes = 0;
  for (let i = 0; i < Number(values['naive-runs']); i++) {
    const mark = await registry.logMark();
    const { result, ms } = timed(() => naiveBuildAndPush(plan, renderDir, root));
    pushes = result;
    naiveRuns.push(ms);
    naiveRequests = naiveRequests.concat(await registry.requestsSince(mark));
  }
  const naiveUploads = blobUploadTraffic(naiveRequests);
  const naiveBytesUploaded = await registry.uploadedBytes(naiveRequests);

  const arborMs = median(arborRuns);
  const naiveMs = median(naiveRuns);
  const perRun = (n, runs) => round(n / runs.length);
  process.stdout.write(
    `${JSON.stringify(
      {
        benchmark: 'apply-noop',
        images: IMAGES,
        tagsPerImage: TAG_TEMPLATES.length + 1,
        node: process.version,
        loadAverage1m: round(loadavg()[0]),
        firstApply: { wallMs: round(first.ms), bytesUploaded: firstUploadedBytes },
        arborMs: round(arborMs),
        arborRunsMs: arborRuns.map(round),
        arborRequestsPerRun: perRun(arborRequests.length, arborRuns),
        arborBlobUploadRequests: arborUploads.uploads,
        arborBytesUploaded,
        naiveMs: round(naiveMs),
        naiveRunsMs: naiveRuns.map(round),
        naiveWarmupMs: round(warm.ms),
        naiveBuilds: plan.images.length,
        naivePushes: pushes,
        naiveRequestsPerRun: perRun(naiveRequests.length, naiveRuns),
        // Per naive run: upload-session requests (POST/PATCH/PUT), blob mounts, bytes stored.
        naiveUploads: perRun(naiveUploads.uploads, naiveRuns),
        naiveMounts: perRun(naiveUploads.mounts, naiveRuns),
        naiveBytesUploaded: perRun(naiveBytesUploaded, naiveRuns),
        ratio: round(naiveMs / arborMs),
        targets: {
          ratioAtLeast10: naiveMs / arborMs >= TARGET_RATIO,
          zeroBytesUploaded: arborBytesUploaded === 0 && arborUploads.uploads === 0,
        },
      },
      null,
      2,
    )}\n`,
  );
} finally {
  const removed = removeImages(registry.host);
  process.stderr.write(`apply-noop: removed ${removed} local image references\n`);
  await registry.stop();
  if (!values.keep) await rm(root, { recursive: true, force: true });
  else process.stderr.write(`apply-noop: tree kept in ${root}\n`);
}
