// arbor bundle and bundle push (issue 15, section 1): a whole release as one file, and that file
// loaded into another registry, side by side with what users do without arbor. The default tree
// (or `--tree generated --images 187`) is built and pushed by `arbor apply` first (untimed).
//   size     the bundle against the sum of per-image `docker save` files (Docker 20.10 writes
//            layers uncompressed; every file repeats the shared layers), one `docker save` of
//            every image, and the sum of per-image `skopeo copy … oci-archive:` files;
//   bundle   `arbor bundle --out FILE` (wall), against `docker save` of every image into one file
//            after `docker pull` of each (pull timed apart) and the per-image skopeo loop;
//   push     `arbor bundle push FILE REGISTRY/ns` into an empty registry (wall), and again (a
//            no-op: every blob and tag there), against a loop of
//            `skopeo copy oci-archive:FILE:REF docker://…` per image into an empty registry.
//
//   npm run build && node bench/bundle.mjs [--tree default|generated] [--images 187] [--runs 3] [--no-docker] [--keep]
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startRegistry } from './lib/registry.mjs';
import { defaultTree, generatedTree } from './lib/trees.mjs';
import { median, run } from './lib/util.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(HERE, '..', 'bin', 'arbor.js');
const DOCKER = '/usr/bin/docker';

const { values } = parseArgs({
  options: {
    tree: { type: 'string', default: 'default' },
    images: { type: 'string', default: '187' },
    runs: { type: 'string', default: '3' },
    'no-docker': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);

const load = () => Math.round(loadavg()[0] * 100) / 100;
const ratio = (a, b) => Math.round((a / b) * 1000) / 1000;

function timed(fn) {
  const loadBefore = load();
  const start = process.hrtime.bigint();
  const result = fn();
  return { ms: Math.round(Number(process.hrtime.bigint() - start) / 1e5) / 10, load: loadBefore, result };
}

const arbor = (args, cwd) => run(process.execPath, [BIN, ...args], { cwd });
const sizeOf = async (file) => (await stat(file)).size;
const sha256 = async (file) =>
  createHash('sha256')
    .update(await readFile(file))
    .digest('hex');

/** Bytes a shell pipeline writes to stdout (never held in this process). */
const bytesOf = (command) =>
  Number(execFileSync('sh', ['-c', `${command} | wc -c`], { encoding: 'utf8' }).trim());

function removeImages(host) {
  const refs = run(DOCKER, ['images', '--format', '{{.Repository}}:{{.Tag}}'])
    .split('\n')
    .filter((r) => r.startsWith(`${host}/`));
  if (refs.length > 0) spawnSync(DOCKER, ['rmi', '--force', ...refs], { encoding: 'utf8' });
}

const source = await startRegistry({ accessLog: false });
const root = await mkdtemp(path.join(tmpdir(), 'arbor-bench-bundle-'));
const treeDir = path.join(root, 'tree');
const targets = [];
const target = async () => {
  const r = await startRegistry({ accessLog: false });
  targets.push(r);
  return r;
};
try {
  const tree =
    values.tree === 'generated'
      ? await generatedTree(treeDir, source.host, Number(values.images))
      : await defaultTree(treeDir, source.host);
  const setup = timed(() => arbor(['apply', '--auto-approve', '-f', tree.file], treeDir));

  // 1. arbor bundle, a few times: the same bytes every time.
  const bundles = [];
  let report;
  for (let i = 0; i < RUNS; i++) {
    const out = path.join(root, `bundle-${i}.tar`);
    const t = timed(() =>
      JSON.parse(arbor(['bundle', '--out', out, '--format', 'json', '-f', tree.file], treeDir)),
    );
    report = t.result;
    bundles.push({ ms: t.ms, load: t.load, file: out });
  }
  const file = bundles[0].file;
  const hashes = new Set(await Promise.all(bundles.map((b) => sha256(b.file))));
  const bundleBytes = await sizeOf(file);
  const refs = report.images.map((img) => `${img.source}:${img.tags[0]}`);
  const bundleName = (img) => `${img.name}:${img.tags[0]}`;

  // 2. The same images the way users save them today.
  let docker;
  if (!values['no-docker']) {
    removeImages(source.host);
    const pull = timed(() => {
      for (const ref of refs) run(DOCKER, ['pull', '-q', ref]);
    });
    const perImage = timed(() => refs.reduce((n, ref) => n + bytesOf(`${DOCKER} save ${ref}`), 0));
    const oneFile = path.join(root, 'docker-save-all.tar');
    const all = timed(() => run(DOCKER, ['save', '-o', oneFile, ...refs]));
    docker = {
      pullMs: pull.ms,
      sumOfPerImageSaveBytes: perImage.result,
      perImageSaveMs: perImage.ms,
      oneSaveOfAllBytes: await sizeOf(oneFile),
      oneSaveOfAllMs: all.ms,
    };
    await rm(oneFile);
  }
  const skopeoDir = path.join(root, 'skopeo');
  run('mkdir', ['-p', skopeoDir]);
  const skopeoSave = timed(() => {
    let total = 0;
    for (const [i, ref] of refs.entries()) {
      const out = path.join(skopeoDir, `${i}.tar`);
      run('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${ref}`, `oci-archive:${out}`]);
      total += Number(run('stat', ['-c', '%s', out]).trim());
    }
    return total;
  });
  await rm(skopeoDir, { recursive: true, force: true });

  // 3. bundle push into empty registries, a no-op push, and skopeo per image from the same file.
  const pushes = [];
  let pushReport;
  for (let i = 0; i < RUNS; i++) {
    const registry = await target();
    const t = timed(() =>
      JSON.parse(
        arbor(
          [
            'bundle',
            'push',
            file,
            `${registry.host}/site`,
            '--insecure',
            '--auto-approve',
            '--format',
            'json',
          ],
          root,
        ),
      ),
    );
    pushReport = t.result.result;
    const noop = timed(() =>
      arbor(
        ['bundle', 'push', file, `${registry.host}/site`, '--insecure', '--auto-approve', '--format', 'json'],
        root,
      ),
    );
    pushes.push({ ms: t.ms, load: t.load, noopMs: noop.ms });
    await registry.stop();
  }
  const skopeoTarget = await target();
  const skopeoPush = timed(() => {
    for (const img of report.images)
      run('skopeo', [
        'copy',
        '-q',
        '--dest-tls-verify=false',
        `oci-archive:${file}:${bundleName(img)}`,
        `docker://${skopeoTarget.host}/site/${img.name}:${img.tags[0]}`,
      ]);
  });

  console.log(
    JSON.stringify(
      {
        tree: values.tree,
        images: report.images.length,
        tags: report.images.reduce((n, img) => n + img.tags.length, 0),
        setupApplyMs: setup.ms,
        size: {
          bundleBytes,
          blobs: report.blobs,
          blobBytes: report.blobBytes,
          deterministic: hashes.size === 1,
          ...(docker
            ? {
                sumOfPerImageDockerSaveBytes: docker.sumOfPerImageSaveBytes,
                ratioToSumOfDockerSave: ratio(bundleBytes, docker.sumOfPerImageSaveBytes),
                oneDockerSaveOfAllBytes: docker.oneSaveOfAllBytes,
                ratioToOneDockerSave: ratio(bundleBytes, docker.oneSaveOfAllBytes),
              }
            : {}),
          sumOfPerImageSkopeoOciArchiveBytes: skopeoSave.result,
          ratioToSumOfSkopeo: ratio(bundleBytes, skopeoSave.result),
        },
        bundle: {
          medianMs: median(bundles.map((b) => b.ms)),
          runs: bundles.map(({ ms, load: l }) => ({ ms, load: l })),
          ...(docker
            ? {
                dockerPullMs: docker.pullMs,
                dockerSaveAllMs: docker.oneSaveOfAllMs,
                dockerSavePerImageMs: docker.perImageSaveMs,
              }
            : {}),
          skopeoPerImageMs: skopeoSave.ms,
        },
        push: {
          medianMs: median(pushes.map((p) => p.ms)),
          noopMedianMs: median(pushes.map((p) => p.noopMs)),
          runs: pushes,
          uploaded: pushReport.totals,
          tagFlipMs: pushReport.flip.windowMs,
          skopeoPerImageMs: skopeoPush.ms,
          skopeoLoad: skopeoPush.load,
          ratioToSkopeo: ratio(median(pushes.map((p) => p.ms)), skopeoPush.ms),
        },
        loadAverage1m: load(),
      },
      null,
      2,
    ),
  );
} finally {
  removeImages(source.host);
  await source.stop();
  for (const r of targets) await r.stop();
  if (!values.keep) await rm(root, { recursive: true, force: true });
}
