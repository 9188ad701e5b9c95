// The two image trees the release benchmarks (unpack, bundle) build with `arbor apply`: a copy of
// the default tree, or the generated OpenStack-shaped tree (busybox base, 8 small files per
// image, one tag `{{ release }}`), pointed at a loopback registry. Each returns the images.yaml
// path and a file whose change rebuilds one leaf image.
import { copyFile, cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateTree } from './generate-tree.mjs';

const REPO = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export async function defaultTree(root, host) {
  for (const entry of ['images.yaml', 'templates', 'images', 'lists', 'schemas'])
    await cp(path.join(REPO, entry), path.join(root, entry), { recursive: true });
  await copyFile('/bin/busybox', path.join(root, 'images', 'base', 'busybox'));
  const file = path.join(root, 'images.yaml');
  await writeFile(file, (await readFile(file, 'utf8')).replace('url: 127.0.0.1:5000', `url: ${host}`));
  return { file, changed: path.join(root, 'images', 'keystone', 'keystone.conf') };
}

export async function generatedTree(root, host, images) {
  const tree = await generateTree(root, { images, filesPerImage: 8, bigFileEvery: 1_000_000 });
  await copyFile('/bin/busybox', path.join(root, 'images', 'base', 'busybox'));
  await writeFile(
    path.join(root, 'templates', 'base.Dockerfile.njk'),
    '{% extends "layout.Dockerfile.njk" %}\n{% block install %}\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n{% endblock %}\n',
  );
  const yaml = (await readFile(tree.file, 'utf8'))
    .replace('url: 127.0.0.1:5000', `url: "${host}"`)
    .replace('\nimages:\n', '\ntags:\n  - "{{ release }}"\nimages:\n')
    .replace('    template: layout.Dockerfile.njk', '    template: base.Dockerfile.njk');
  await writeFile(tree.file, yaml);
  const leaf = tree.images[tree.images.length - 1];
  return { file: tree.file, changed: path.join(root, 'images', leaf.name, 'files', 'bench-changed.txt') };
}
