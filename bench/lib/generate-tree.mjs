// Generates an image tree shaped like a large OpenStack distribution, on disk: images.yaml,
// templates and one build context per image. Deterministic for a given seed, so runs compare.
//
// Shape (for 187 images): one root, 5 levels, level sizes 1 / 4 / 29 / 120 / 33 (scaled for
// other sizes, never more than `maxFanout` children per image), ~20 context files per image with
// sizes spread log-uniformly from 200 B to 64 KiB, a few executables, a .dockerignore with
// files it excludes, and every `bigFileEvery`-th image carrying a 1–6 MiB file.
//
//   import { generateTree } from './lib/generate-tree.mjs';
//   const tree = await generateTree('/tmp/x', { images: 187 });
//   tree.file        // images.yaml
//   tree.sentFiles   // absolute paths of every context/input file arbor (and Docker) reads
//   tree.sentBytes   // their total size
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

const LEVEL_SHAPE = [1, 4, 29, 120, 33];
const PROJECTS = [
  'keystone',
  'nova',
  'neutron',
  'glance',
  'cinder',
  'heat',
  'horizon',
  'swift',
  'octavia',
  'designate',
  'barbican',
  'magnum',
  'manila',
  'ironic',
  'placement',
  'aodh',
  'ceilometer',
  'gnocchi',
  'trove',
  'zun',
  'kuryr',
  'blazar',
  'cloudkitty',
  'masakari',
  'mistral',
  'tacker',
  'watcher',
  'skyline',
  'venus',
];
const ROLES = [
  'api',
  'conductor',
  'scheduler',
  'worker',
  'engine',
  'agent',
  'manager',
  'proxy',
  'volume',
  'backup',
];

/** A small seeded PRNG (mulberry32): the same seed gives the same tree, DAG or durations. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Level sizes for `total` images: the 187-image shape, scaled, within the fan-out limit. */
export function levelSizes(total, maxFanout) {
  if (total < LEVEL_SHAPE.length) return Array.from({ length: total }, () => 1);
  const sizes = [1, Math.min(maxFanout, Math.max(1, Math.round((LEVEL_SHAPE[1] * total) / 187)))];
  const restShape = LEVEL_SHAPE.slice(2);
  const restTotal = restShape.reduce((a, b) => a + b, 0);
  let remaining = total - sizes[0] - sizes[1];
  for (const [i, share] of restShape.entries()) {
    const last = i === restShape.length - 1;
    const wanted = last ? remaining : Math.round(((total - sizes[0] - sizes[1]) * share) / restTotal);
    const size = Math.min(wanted, sizes[sizes.length - 1] * maxFanout);
    sizes.push(size);
    remaining -= size;
  }
  if (remaining !== 0) throw new Error(`cannot fit ${total} images in 5 levels with fan-out ${maxFanout}`);
  return sizes;
}

function nameFor(level, index) {
  if (level === 0) return 'base';
  if (level === 1) return ['openstack-base', 'infra-base', 'python-base', 'tools'][index] ?? `base-${index}`;
  const project = PROJECTS[index % PROJECTS.length];
  const round = Math.floor(index / PROJECTS.length);
  if (level === 2) return round === 0 ? `${project}-base` : `${project}${round}-base`;
  const role = ROLES[index % ROLES.length];
  return `${project}-${role}-l${level}-${index}`;
}

/**
 * @param {string} root directory to write into (created)
 * @param {{ images?: number, maxFanout?: number, filesPerImage?: number, bigFileEvery?: number, seed?: number }} options
 */
export async function generateTree(root, options = {}) {
  const total = options.images ?? 187;
  const maxFanout = options.maxFanout ?? 29;
  const filesPerImage = options.filesPerImage ?? 20;
  const bigFileEvery = options.bigFileEvery ?? 40;
  const random = prng(options.seed ?? 187);
  // File content comes from one random pool, sliced at random offsets: cheap and incompressible.
  const pool = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < pool.length; i += 4) pool.writeUInt32LE((random() * 4294967296) >>> 0, i);
  const content = (size) => {
    if (size <= pool.length) {
      const start = Math.floor(random() * (pool.length - size));
      return pool.subarray(start, start + size);
    }
    return Buffer.concat(Array.from({ length: Math.ceil(size / pool.length) }, () => pool)).subarray(0, size);
  };

  const sizes = levelSizes(total, maxFanout);
  const levels = [];
  for (const [level, count] of sizes.entries()) {
    const parents = levels[level - 1] ?? [];
    const children = new Map(parents.map((p) => [p, 0]));
    const images = [];
    for (let index = 0; index < count; index++) {
      let parent = null;
      if (level > 0) {
        // Skewed: early parents (openstack-base, keystone-base…) take more children, up to the limit.
        const open = parents.filter((p) => children.get(p) < maxFanout);
        parent = open[Math.floor(random() ** 2 * open.length)];
        children.set(parent, children.get(parent) + 1);
      }
      images.push({ name: nameFor(level, index), level, parent });
    }
    levels.push(images.map((i) => i.name));
    levels[level].images = images;
  }
  const images = levels.flatMap((l) => l.images);

  const sentFiles = [];
  let sentBytes = 0;
  await mkdir(path.join(root, 'templates'), { recursive: true });
  await writeFile(
    path.join(root, 'templates', 'layout.Dockerfile.njk'),
    [
      'FROM {{ parent_ref }}',
      // The newline inside the block: templates trim the one after a block tag, and without it
      // the next instruction would land on the LABEL line (a Dockerfile docker cannot build).
      '{% block labels %}LABEL org.example.release="{{ release }}"\n{% endblock %}',
      '{% block install %}{% endblock %}',
      'COPY . /opt/{{ image.name }}/',
      '{% block run %}RUN ["/bin/sh", "-c", "true"]{% endblock %}',
      '',
    ].join('\n'),
  );
  await writeFile(
    path.join(root, 'templates', 'service.Dockerfile.njk'),
    [
      '{% extends "layout.Dockerfile.njk" %}',
      '{% block install %}',
      '{% for key, value in image.args %}ARG {{ key }}={{ value }}',
      '{% endfor %}{% endblock %}',
      '',
    ].join('\n'),
  );

  const yaml = [
    '# Generated by bench/lib/generate-tree.mjs',
    'version: 1',
    'registry:',
    '  url: 127.0.0.1:5000',
    '  namespace: bench',
    '  insecure: true',
    'variables:',
    '  release: "2025.1"',
    'images:',
  ];
  for (const [n, image] of images.entries()) {
    const contextRel = `images/${image.name}`;
    const contextDir = path.join(root, contextRel);
    await mkdir(path.join(contextDir, 'files'), { recursive: true });
    await mkdir(path.join(contextDir, 'scripts'), { recursive: true });
    const write = async (rel, data, mode, sent = true) => {
      const abs = path.join(contextDir, rel);
      await writeFile(abs, data, { mode });
      if (sent) {
        sentFiles.push(abs);
        sentBytes += data.length;
      }
    };
    await write('.dockerignore', '*.pyc\n__pycache__\n', 0o644);
    await write('__cache.pyc', content(300), 0o644, false);
    for (let f = 0; f < filesPerImage - 2; f++) {
      const size = Math.round(200 * (65536 / 200) ** random());
      const dir = f % 3 === 0 ? 'scripts' : 'files';
      const executable = dir === 'scripts';
      await write(
        `${dir}/file-${f}${executable ? '.sh' : '.conf'}`,
        content(size),
        executable ? 0o755 : 0o644,
      );
    }
    if (n % bigFileEvery === bigFileEvery - 1) {
      const size = Math.round((1 + random() * 5) * 1024 * 1024);
      await write('files/bundle.tar', content(size), 0o644);
    }
    yaml.push(`  ${image.name}:`);
    yaml.push(image.parent ? `    parent: ${image.parent}` : '    from: scratch');
    yaml.push(`    template: ${image.level === 0 ? 'layout.Dockerfile.njk' : 'service.Dockerfile.njk'}`);
    yaml.push(`    context: ${contextRel}`);
    if (image.level >= 3)
      yaml.push(`    args: { ${image.name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_VERSION: "1.${n}.0" }`);
  }
  const file = path.join(root, 'images.yaml');
  await writeFile(file, `${yaml.join('\n')}\n`);
  return { root, file, images, levelSizes: sizes, sentFiles, sentBytes };
}
