// `arbor export` and `arbor comment` without a saved plan: they plan the tree against the real
// registry, and bake finds the rendered Dockerfiles where the plan says they are.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { arbor } from '../support/cli.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { copyDefaultTree, type TreeCopy } from '../support/tree.js';
import { schemaErrors } from '../unit/export/schemas.js';

let registry: TestRegistry;
let tree: TreeCopy;

beforeAll(async () => {
  registry = await startRegistry();
  tree = await copyDefaultTree(registry.host);
});

afterAll(async () => {
  await tree?.remove();
  if (registry) await destroyRegistry(registry);
});

const run = (...args: string[]) => arbor([...args, '-f', tree.file], { cwd: tree.dir });

describe('exports and comments from a fresh plan', () => {
  it('writes a valid docker-bake.json whose Dockerfiles exist', () => {
    const out = join(tree.dir, 'docker-bake.json');
    const result = run('export', '--format', 'bake', '--out', out);
    expect(result.code, result.stderr).toBe(0);
    const bake = JSON.parse(readFileSync(out, 'utf8'));
    expect(schemaErrors('dockerBake', bake)).toEqual([]);
    expect(bake.group.default.targets).toHaveLength(10);
    for (const target of Object.values(bake.target) as { context: string; dockerfile: string }[]) {
      const dockerfile = join(tree.dir, target.context, target.dockerfile);
      expect(existsSync(dockerfile), dockerfile).toBe(true);
      expect(readFileSync(dockerfile, 'utf8')).toMatch(/^FROM /m);
    }
    // The child's FROM names its parent exactly as the named context's key: bake swaps in the target.
    const [key, value] = Object.entries(bake.target.keystone.contexts as Record<string, string>)[0]!;
    expect(value).toBe('target:keystone-base');
    expect(key).toMatch(new RegExp(`^${registry.host}/arbor-demo/keystone-base:fp-[0-9a-f]{24}$`));
    const keystone = bake.target.keystone as { context: string; dockerfile: string };
    expect(readFileSync(join(tree.dir, keystone.context, keystone.dockerfile), 'utf8')).toContain(
      `FROM ${key}\n`,
    );
  });

  it('writes a valid GitHub Actions workflow with one job per image to build', () => {
    const result = run('export', '--format', 'github-actions');
    expect(result.code, result.stderr).toBe(0);
    const workflow = parse(result.stdout);
    expect(schemaErrors('githubWorkflow', workflow)).toEqual([]);
    expect(Object.keys(workflow.jobs)).toHaveLength(10);
  });

  it('renders the PR comment of the fresh plan', () => {
    const result = run('comment', '--github', '--dry-run');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('<!-- arbor:plan target=default -->');
    expect(result.stdout).toMatch(/10 build/);
    expect(result.stdout).toContain('```mermaid');
  });
});
