// `arbor validate` and `arbor graph` as a user runs them: the built CLI in a child process
// (`npm test` builds first; alone: `npx tsc -p tsconfig.build.json`).
import { describe, expect, it } from 'vitest';
import { arbor } from '../../support/cli.js';
import { writeTree, yaml } from './tree.js';

const FILES = {
  'templates/base.Dockerfile.njk': 'FROM scratch\n',
  'templates/app.Dockerfile.njk': 'FROM {{ parent_ref }}\n',
};

const HEADER = [
  'version: 1',
  'registry:',
  '  url: 127.0.0.1:5000',
  'images:',
  '  base:',
  '    from: scratch',
];

describe('arbor validate', () => {
  it('says ok with counts and exits 0', async () => {
    const dir = await writeTree({ ...FILES, 'images.yaml': yaml(...HEADER, '  app:', '    parent: base') });
    const result = arbor(['validate'], { cwd: dir });
    expect(result).toEqual({ code: 0, stdout: 'images.yaml: 2 images, 0 retention rules, ok\n', stderr: '' });
  });

  it('prints every problem with its location and exits 1', async () => {
    const dir = await writeTree({
      ...FILES,
      'conf/images.yaml': yaml(...HEADER, '  app:', '    parent: bsae', '  ghost:', '    parent: base'),
    });
    const result = arbor(['validate', '-f', 'conf/images.yaml'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      [
        'conf/images.yaml:5:3: error: image base: no Dockerfile: set "template" or "dockerfile", or create conf/templates/base.Dockerfile.njk',
        'conf/images.yaml:7:3: error: image app: no Dockerfile: set "template" or "dockerfile", or create conf/templates/app.Dockerfile.njk',
        'conf/images.yaml:8:13: error: image app: unknown parent "bsae" (did you mean "base"?)',
        'conf/images.yaml:9:3: error: image ghost: no Dockerfile: set "template" or "dockerfile", or create conf/templates/ghost.Dockerfile.njk',
        '',
      ].join('\n'),
    );
  });
});

describe('arbor graph', () => {
  it('prints a selection as JSON', async () => {
    const dir = await writeTree({
      ...FILES,
      'templates/other.Dockerfile.njk': '',
      'images.yaml': yaml(...HEADER, '  app:', '    parent: base', '  other:', '    parent: base'),
    });
    const result = arbor(['graph', '--format', 'json', '--only', 'app'], { cwd: dir });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout).images.map((i: { name: string }) => i.name)).toEqual(['base', 'app']);
    const unknown = arbor(['graph', '--only', 'ap'], { cwd: dir });
    expect(unknown).toEqual({
      code: 1,
      stdout: '',
      stderr: 'error: unknown image "ap" (did you mean "app"?)\n',
    });
  });
});
