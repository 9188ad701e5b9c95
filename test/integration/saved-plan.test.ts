// `arbor apply plan.json` recomputes the saved plan from its config and the registry state it
// recorded, and refuses one edited into something else — before anything changes. The built CLI
// against a real registry and the real Docker engine.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../src/plan/model.js';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { arbor } from '../support/cli.js';
import { requireEngine } from '../support/engine.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { removeLocalImages, requestsSince } from '../support/tree.js';
import { skopeoTags } from './registry-fixtures.js';
import { day, pushVersion } from './retention-fixtures.js';

let registry: TestRegistry;
let client: RegistryClient;
let dir: string;
let saved: Plan;
const old: string[] = [];

const run = (...args: string[]) => arbor(args, { cwd: dir });

function config(release: string): string {
  return [
    'version: 1',
    'registry:',
    `  url: "${registry.host}"`,
    '  namespace: ns',
    '  insecure: true',
    'variables:',
    `  release: "${release}"`,
    'tags: ["{{ release }}"]',
    'images:',
    '  app:',
    '    from: scratch',
    '    dockerfile: Dockerfile',
    '    context: ctx',
    'retention:',
    '  - extra_repositories: ["ns/old"]',
    '    keep_last: 1',
    '',
  ].join('\n');
}

/** What the registry holds that apply could change: every tag of both repositories. */
function registryState() {
  return {
    app: skopeoTags(`${registry.host}/ns/app`).sort(),
    old: skopeoTags(`${registry.host}/ns/old`).sort(),
  };
}

/** Writes an edited copy of the saved plan and applies it. */
async function applyEdited(name: string, edit: (plan: Plan) => void) {
  const plan = structuredClone(saved);
  edit(plan);
  const file = `${name}.json`;
  await writeFile(join(dir, file), JSON.stringify(plan, null, 2));
  const before = registryState();
  const mark = (await registry.log()).length;
  const result = run('apply', file);
  // Refused before anything changed: no write of any kind reached the registry.
  expect(requestsSince(await registry.log(), mark, /"(PUT|POST|PATCH|DELETE) /)).toEqual([]);
  expect(registryState()).toEqual(before);
  return result;
}

beforeAll(async () => {
  requireEngine();
  registry = await startRegistry();
  client = createRegistryClient({ registry: registry.host, insecure: true });
  dir = await mkdtemp(join(tmpdir(), 'arbor-saved-plan-'));
  await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\nCOPY hello /hello\n');
  await mkdir(join(dir, 'ctx'));
  await writeFile(join(dir, 'ctx', 'hello'), 'hello\n');
  await writeFile(join(dir, 'images.yaml'), config('1.0'));
  // app exists (built once); then old versions appear in ns/old for retention to delete.
  const first = run('apply', '--auto-approve', '--no-retention');
  expect(first.code, first.stderr).toBe(0);
  for (let v = 1; v <= 3; v++) old.push(await pushVersion(client, 'ns/old', [`v${v}`], day(v)));
  // A new release: app is tagged 1.1 (no build), v1 and v2 go.
  await writeFile(join(dir, 'images.yaml'), config('1.1'));
  const planned = run('plan', '--out', 'plan.json');
  expect(planned.code, planned.stderr).toBe(0);
  saved = JSON.parse(await readFile(join(dir, 'plan.json'), 'utf8')) as Plan;
  expect(saved.images.map((i) => [i.name, i.action, i.tagsToAdd])).toEqual([['app', 'tag', ['1.1']]]);
  expect(saved.deletions.map((d) => d.digest)).toEqual([old[0], old[1]]);
});

afterAll(async () => {
  await client?.close();
  if (registry) {
    removeLocalImages(registry.host);
    await destroyRegistry(registry);
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('apply plan.json refuses a plan edited into something else', () => {
  it('an added tag (the issue: tagsToAdd edited to evil-tag)', async () => {
    const result = await applyEdited('evil-tag', (p) => {
      p.images[0]!.tagsToAdd = ['evil-tag'];
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      'the saved plan is not what its config and the registry give (edited, or changed since the plan); refusing it',
    );
    expect(result.stderr).toContain(
      'image app: tagsToAdd: ["evil-tag"] in evil-tag.json; images.yaml gives ["1.1"]',
    );
  });

  it('another digest for the tag to point at, also when the recorded registry state is edited to match', async () => {
    const swapped = await applyEdited('digest', (p) => {
      p.images[0]!.digest = old[2]!;
    });
    expect(swapped.code).toBe(1);
    expect(swapped.stderr).toMatch(
      /image app: digest: "sha256:[0-9a-f]{64}" in digest\.json; images\.yaml gives "sha256:/,
    );

    const consistent = await applyEdited('digest-observed', (p) => {
      const image = p.images[0]!;
      image.digest = old[2]!;
      p.observed[`${image.repository}:${image.fingerprintTag}`] = old[2]!;
    });
    expect(consistent.code).toBe(1);
    expect(consistent.stderr).toMatch(/ns\/app:fp-[0-9a-f]{24}: moved since the plan/);
  });

  it('a deletion retention would not make, or of another digest', async () => {
    const current = saved.observed[`${saved.images[0]!.repository}:${saved.images[0]!.fingerprintTag}`]!;
    const added = await applyEdited('deletion-added', (p) => {
      p.deletions.push({
        ...p.deletions[0]!,
        repository: `${registry.host}/ns/app`,
        digest: current,
        tags: ['1.0'],
      });
    });
    expect(added.code).toBe(1);
    expect(added.stderr).toContain(
      `deletion ${registry.host}/ns/app@${current}: in deletion-added.json, but retention gives no such entry`,
    );

    const other = await applyEdited('deletion-digest', (p) => {
      p.deletions[1]!.digest = old[2]!;
      p.deletions[1]!.tags = ['v3'];
    });
    expect(other.code).toBe(1);
    expect(other.stderr).toContain(
      `deletion ${registry.host}/ns/old@${old[2]}: in deletion-digest.json, but retention gives no such entry`,
    );
    expect(other.stderr).toContain(
      `deletion ${registry.host}/ns/old@${old[1]}: retention gives it, deletion-digest.json does not`,
    );
  });

  it('build arguments, a summary or a field arbor never writes', async () => {
    const args = await applyEdited('args', (p) => {
      p.images[0]!.build!.args = { EVIL: '1' };
      p.summary.build = 1;
      (p as unknown as Record<string, unknown>).hooks = ['rm -rf /'];
    });
    expect(args.code).toBe(1);
    expect(args.stderr).toContain(
      'image app: build.args.EVIL: "1" in args.json; images.yaml has no such entry',
    );
    expect(args.stderr).toContain('summary.build: 1 in args.json; images.yaml gives 0');
    expect(args.stderr).toContain('hooks: ["rm -rf /"] in args.json; images.yaml has no such entry');
  });

  it('applies the plan as saved: the tag added, exactly the planned deletions made', async () => {
    const applied = run('apply', 'plan.json');
    expect(applied.code, applied.stderr).toBe(0);
    expect(registryState()).toEqual({
      app: ['1.0', '1.1', saved.images[0]!.fingerprintTag].sort(),
      old: ['v3'],
    });
  });
});
