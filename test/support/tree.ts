// A private copy of the default image family (images.yaml, templates, contexts, lists) in a
// temp dir, pointed at a test registry, so a test can edit any file without touching the repo.
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DOCKER } from './engine.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

export interface TreeCopy {
  dir: string;
  file: string;
  /** Replace text in a file of the copy; fails when the text is not there. */
  edit(path: string, from: string | RegExp, to: string): Promise<void>;
  append(path: string, text: string): Promise<void>;
  remove(): Promise<void>;
}

export async function copyDefaultTree(registryHost: string): Promise<TreeCopy> {
  const dir = await mkdtemp(join(tmpdir(), 'arbor-tree-'));
  for (const entry of ['images.yaml', 'templates', 'images', 'lists', 'schemas']) {
    await cp(join(REPO, entry), join(dir, entry), { recursive: true });
  }
  // The base image's root filesystem: Debian's static busybox.
  await cp('/bin/busybox', join(dir, 'images', 'base', 'busybox'));
  const tree: TreeCopy = {
    dir,
    file: join(dir, 'images.yaml'),
    async edit(path, from, to) {
      const full = join(dir, path);
      const text = await readFile(full, 'utf8');
      const next = text.replace(from, to);
      if (next === text) throw new Error(`${path}: ${String(from)} not found`);
      await writeFile(full, next);
    },
    async append(path, text) {
      const full = join(dir, path);
      await writeFile(full, (await readFile(full, 'utf8')) + text);
    },
    async remove() {
      await rm(dir, { recursive: true, force: true });
    },
  };
  await tree.edit('images.yaml', 'url: 127.0.0.1:5000', `url: ${registryHost}`);
  return tree;
}

/** Removes every local image of a test registry, so test runs do not fill the engine. */
export function removeLocalImages(registryHost: string): void {
  // Untagged leftovers (`repo:<none>`, e.g. an image replaced by a refresh) go by their id.
  const rows = execFileSync(DOCKER, ['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'], {
    encoding: 'utf8',
  })
    .split('\n')
    .filter((r) => r.startsWith(`${registryHost}/`));
  const refs = [
    ...new Set(rows.map((r) => (r.split(' ')[0]!.endsWith(':<none>') ? r.split(' ')[1]! : r.split(' ')[0]!))),
  ];
  if (refs.length > 0) execFileSync(DOCKER, ['rmi', '-f', ...refs], { stdio: 'ignore' });
}

/** Registry access-log lines of one kind since a mark (the log's length at an earlier moment). */
export function requestsSince(log: string, mark: number, pattern: RegExp): string[] {
  return log
    .slice(mark)
    .split('\n')
    .filter((line) => pattern.test(line));
}
