// Temporary config repositories for tests: images.yaml plus the files it names, one directory
// per test, removed afterwards.
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';

const created: string[] = [];

afterEach(async () => {
  await Promise.all(created.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/**
 * Files by relative path; a value ending in `/` makes a directory, `-> target` a symlink.
 * Returns the directory.
 */
export async function writeTree(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'arbor-config-'));
  created.push(dir);
  for (const [relative, content] of Object.entries(files)) {
    const target = path.join(dir, relative);
    if (relative.endsWith('/')) {
      await mkdir(target, { recursive: true });
      continue;
    }
    await mkdir(path.dirname(target), { recursive: true });
    if (content.startsWith('-> ')) await symlink(content.slice(3), target);
    else await writeFile(target, content);
  }
  return dir;
}

/** The files a small valid tree needs besides images.yaml. */
export const SUPPORT_FILES: Record<string, string> = {
  'templates/base.Dockerfile.njk': 'FROM scratch\n',
  'templates/openstack-base.Dockerfile.njk': 'FROM {{ parent_ref }}\n',
  'templates/keystone.Dockerfile.njk': 'FROM {{ parent_ref }}\n',
  'images/base/': '',
  'lists/keystone.txt': 'keystone==27.0.0\n',
};

/** Lines joined with newlines, so line numbers in tests can be counted from the array. */
export function yaml(...lines: string[]): string {
  return `${lines.join('\n')}\n`;
}

/** An images.yaml with a node of every kind: comments, flow and block collections, quoted and
 * integer-like keys, empty values. */
export const EVERY_KIND_OF_NODE = yaml(
  '# a comment',
  'version: 1',
  'registry: { url: "127.0.0.1:5000", namespace: openstack }',
  'variables:',
  '  release: "2025.1"',
  '  empty:',
  '  nothing: ~',
  '  "quoted key": [a, { b: c }, [d, e]]',
  '  "with/slash": 1',
  '  "0": zero',
  '  9: nine',
  'tags:',
  '  - "{{ release }}"',
  '  -',
  '  - latest',
  'images:',
  '  base:',
  '    from: scratch',
  '    args: { PATCH: 5, DEBUG: false }',
  '  keystone:',
  '    parent: base',
  '    inputs:',
  '      files:',
  '        - lists/keystone.txt',
);
