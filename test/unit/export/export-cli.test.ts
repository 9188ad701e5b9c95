// `arbor export` end to end: the built CLI (run `npx tsc -p tsconfig.build.json` first) on a saved
// plan fixture, its output checked against the vendored official schemas.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { arbor } from '../../support/cli.js';
import { schemaErrors } from './schemas.js';

const PLAN = fileURLToPath(new URL('../../fixtures/plans/small.json', import.meta.url));
const version = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')).version;

describe('arbor export', () => {
  it('writes a GitHub Actions workflow to standard output', () => {
    const result = arbor(['export', '--format', 'github-actions', '--plan', PLAN]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const workflow = parse(result.stdout);
    expect(schemaErrors('githubWorkflow', workflow)).toEqual([]);
    expect(workflow.jobs['build-keystone'].steps[2].run).toBe(
      `npx --yes arbor@${version} apply -f images.yaml --only keystone --auto-approve`,
    );
  });

  it('writes a GitLab child pipeline', () => {
    const result = arbor(['export', '--format', 'gitlab-ci', '--plan', PLAN, '--max-jobs', '2']);
    expect(result.code).toBe(0);
    const pipeline = parse(result.stdout);
    expect(schemaErrors('gitlabCi', pipeline)).toEqual([]);
    // Four changed images folded into two jobs: the keystone chain shares one.
    expect(Object.keys(pipeline).filter((k) => k.startsWith('build-') || k.startsWith('tag-'))).toHaveLength(
      2,
    );
  });

  it('writes docker-bake.json to --out', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arbor-export-'));
    const out = join(dir, 'docker-bake.json');
    const result = arbor(['export', '--format', 'bake', '--plan', PLAN, '--out', out]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
    const bake = JSON.parse(await readFile(out, 'utf8'));
    expect(schemaErrors('dockerBake', bake)).toEqual([]);
    expect(bake.group.default.targets).toEqual(['openstack-base', 'keystone-base', 'keystone']);
  });

  it('rejects bad input with a clear error and exit 1', async () => {
    // A usage error is one line and a pointer to --help, not the whole help.
    expect(arbor(['export', '--plan', PLAN]).stderr.trimEnd()).toBe(
      "error: required option '--format <format>' not specified\n(see --help)",
    );
    expect(arbor(['export', '--format', 'jenkins', '--plan', PLAN]).code).toBe(1);
    expect(arbor(['export', '--format', 'bake', '-f', '/nonexistent/images.yaml']).stderr.trimEnd()).toBe(
      'error: cannot read /nonexistent/images.yaml: no such file',
    );
    expect(arbor(['export', '--format', 'bake', '--plan', PLAN, '--max-jobs', '0']).stderr.trimEnd()).toBe(
      'error: --max-jobs: expected a positive number, got "0"',
    );
    const dir = await mkdtemp(join(tmpdir(), 'arbor-export-'));
    const old = join(dir, 'old-plan.json');
    const plan = JSON.parse(await readFile(PLAN, 'utf8'));
    for (const image of plan.images) delete image.build;
    await writeFile(old, JSON.stringify(plan));
    const result = arbor(['export', '--format', 'bake', '--plan', old]);
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n')[0]).toBe(
      'error: image openstack-base: the plan has no build details (context, Dockerfile) for this image; save it again with `arbor plan --out`',
    );
    expect(result.stdout).toBe('');
    // CI jobs only name images (each runs `arbor apply`), so they need no build details.
    expect(arbor(['export', '--format', 'gitlab-ci', '--plan', old]).code).toBe(0);
  });
});
