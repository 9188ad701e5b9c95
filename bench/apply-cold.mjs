// Cold apply: the whole generated tree built and pushed into an empty registry by
// `arbor apply --auto-approve`, with nothing in the engine's cache (every image of the previous
// run removed first). This is the cost of owning the push: it must not regress by more than 10 %
// against the commit before arbor took the push over from `docker push` (issues 11 and 14), so the
// script can time another checkout's CLI in the same run (`--before DIR`), runs alternated.
// Bytes uploaded and blob upload requests come from the registry's access log.
//
//   npm run build && node bench/apply-cold.mjs [--images 187] [--runs 3] [--before /path/to/old/checkout] [--concurrency 2]
import { spawnSync } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateTree } from './lib/generate-tree.mjs';
import { blobUploadTraffic, startRegistry } from './lib/registry.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const AFTER = path.join(HERE, '..');
const DOCKER = '/usr/bin/docker';
const TAG_TEMPLATES = ['{{ release }}', '{{ release }}-bench'];

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '187' },
    runs: { type: 'string', default: '3' },
    before: { type: 'string' },
    concurrency: { type: 'string', default: '2' },
    flip: { type: 'boolean', default: false },
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

async function prepareTree(root, host) {
  const tree = await generateTree(root, { images: IMAGES, filesPerImage: 8, bigFileEvery: 1_000_000 });
  await copyFile('/bin/busybox', path.join(root, 'images', 'base', 'busybox'));
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

function removeImages(host) {
  const rows = run(DOCKER, ['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'])
    .split('\n')
    .filter((r) => r.startsWith(`${host}/`));
  const refs = [
    ...new Set(rows.map((r) => (r.split(' ')[0].endsWith(':<none>') ? r.split(' ')[1] : r.split(' ')[0]))),
  ];
  if (refs.length > 0) spawnSync(DOCKER, ['rmi', '--force', ...refs], { encoding: 'utf8' });
  return refs.length;
}

/** One cold apply of a fresh tree into a fresh registry with `checkout`'s CLI. */
async function coldApply(checkout) {
  const root = await mkdtemp(path.join(tmpdir(), 'arbor-bench-apply-cold-'));
  const registry = await startRegistry();
  try {
    const tree = await prepareTree(root, registry.host);
    const bin = path.join(checkout, 'bin', 'arbor.js');
    const mark = await registry.logMark();
    const started = performance.now();
    const output = run(
      process.execPath,
      [bin, 'apply', '--auto-approve', '--concurrency', values.concurrency, '-f', tree.file],
      { cwd: root, env: { ...process.env, CI: '1' } },
    );
    const ms = performance.now() - started;
    const requests = await registry.requestsSince(mark);
    const plan = JSON.parse(
      run(process.execPath, [bin, 'plan', '--format', 'json', '-f', tree.file], { cwd: root }),
    );
    if (plan.summary.none !== IMAGES)
      throw new Error(
        `${checkout}: after a cold apply the plan is not a no-op: ${JSON.stringify(plan.summary)}\n${output}`,
      );
    const uploads = blobUploadTraffic(requests);
    // The tag flip of a tag-only apply: two new tag templates on every image (187 × 2 tags).
    let flip;
    if (values.flip) {
      await writeFile(
        tree.file,
        (await readFile(tree.file, 'utf8')).replace(
          '\ntags:\n',
          '\ntags:\n  - "{{ release }}-flip-a"\n  - "{{ release }}-flip-b"\n',
        ),
      );
      const flipped = run(process.execPath, [bin, 'apply', '--auto-approve', '-f', tree.file], {
        cwd: root,
        env: { ...process.env, CI: '1' },
      });
      const m = /Tags: (\d+) written together in ([\d.]+) ms/.exec(flipped);
      flip = m ? { tags: Number(m[1]), windowMs: Number(m[2]) } : { output: flipped.slice(-300) };
    }
    return {
      ...(flip ? { flip } : {}),
      ms,
      requests: requests.length,
      blobUploadRequests: uploads.uploads,
      mounts: uploads.mounts,
      bytesUploaded: await registry.uploadedBytes(requests),
    };
  } finally {
    removeImages(registry.host);
    await registry.stop();
    if (!values.keep) await rm(root, { recursive: true, force: true });
  }
}

const checkouts = { after: AFTER, ...(values.before ? { before: values.before } : {}) };
const results = Object.fromEntries(Object.keys(checkouts).map((k) => [k, []]));
const loadStart = loadavg()[0];
for (let i = 0; i < Number(values.runs); i++) {
  // Alternated, so a change in the machine's load hits both alike.
  const order = i % 2 === 0 ? Object.keys(checkouts) : Object.keys(checkouts).reverse();
  for (const name of order) results[name].push(await coldApply(checkouts[name]));
}
const summary = (runs) => ({
  wallMs: round(median(runs.map((r) => r.ms))),
  runsMs: runs.map((r) => round(r.ms)),
  requests: median(runs.map((r) => r.requests)),
  blobUploadRequests: median(runs.map((r) => r.blobUploadRequests)),
  mounts: median(runs.map((r) => r.mounts)),
  bytesUploaded: median(runs.map((r) => r.bytesUploaded)),
  ...(runs.some((r) => r.flip) ? { flip: runs.map((r) => r.flip) } : {}),
});
const out = {
  benchmark: 'apply-cold',
  images: IMAGES,
  tagsPerImage: TAG_TEMPLATES.length + 1,
  concurrency: Number(values.concurrency),
  node: process.version,
  loadAverage1m: { start: round(loadStart), end: round(loadavg()[0]) },
  after: summary(results.after),
};
if (values.before) {
  out.before = summary(results.before);
  out.afterOverBefore = round((out.after.wallMs / out.before.wallMs) * 1000) / 1000;
  out.targets = { notSlowerThan110Percent: out.after.wallMs <= 1.1 * out.before.wallMs };
}
process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
