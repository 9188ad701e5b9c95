// `arbor import-kolla` + `arbor render` against what kolla-build itself rendered from the same
// Kolla snapshot (../shared/kolla/expected/<base>/<image>/Dockerfile, see its README): every
// Dockerfile of every base must be byte-identical, except the FROM lines (arbor pins parents by
// fingerprint, the external base by digest) and the base image's `LABEL kolla_version=` (the
// snapshot has no .git for it). The external base is not reachable here: each import points
// kolla-build's base_image at a loopback registry holding a stand-in, so render can pin it.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { arbor } from '../support/cli.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { pushStandIns } from './kolla-fixtures.js';

const SHARED = fileURLToPath(new URL('../../../shared/kolla/', import.meta.url));
const SOURCE = join(SHARED, 'source');
const EXPECTED = join(SHARED, 'expected');
const BASES = readdirSync(EXPECTED).sort();

let registry: TestRegistry;
let client: RegistryClient;
let work: string;

beforeAll(async () => {
  registry = await startRegistry();
  client = createRegistryClient({ registry: registry.host, insecure: true });
  work = mkdtempSync(join(tmpdir(), 'arbor-kolla-render-'));
});

afterAll(async () => {
  await client?.close();
  if (registry) await destroyRegistry(registry);
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Imports the checkout for a base, pushes a stand-in for its external base, renders every image. */
async function importAndRender(
  checkout: string,
  base: string,
  name: string,
): Promise<{ project: string; rendered: string }> {
  const project = join(work, name);
  const imported = arbor([
    'import-kolla',
    checkout,
    '--out',
    project,
    '--base',
    base,
    '--registry',
    registry.host,
    '--insecure',
    '-o',
    `base_image=${registry.host}/stand-in/${base}`,
  ]);
  expect(imported.stderr.replace(/^warning: no UNBUILDABLE_IMAGES.*\n/m, '')).toBe('');
  expect(imported.code).toBe(0);
  await pushStandIns(client, registry.host, join(project, 'images.yaml'));
  const rendered = join(work, `${name}-rendered`);
  const result = arbor(['render', '-f', join(project, 'images.yaml'), '--out', rendered]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return { project, rendered };
}

/** The lines that may differ, made equal: every FROM line, and LABEL kolla_version. */
function comparable(dockerfile: string): string {
  return dockerfile
    .split('\n')
    .map((line) =>
      line.startsWith('FROM ')
        ? 'FROM <parent>'
        : line.startsWith('LABEL kolla_version=')
          ? 'LABEL kolla_version=<commit>'
          : line,
    )
    .join('\n');
}

function firstDifference(a: string, b: string): string {
  const la = a.split('\n');
  const lb = b.split('\n');
  for (let i = 0; i < Math.max(la.length, lb.length); i++)
    if (la[i] !== lb[i])
      return `line ${i + 1}:\n  kolla-build: ${JSON.stringify(lb[i])}\n  arbor:       ${JSON.stringify(la[i])}`;
  return '';
}

describe('import-kolla + render: the Dockerfiles kolla-build renders', () => {
  const identical: Record<string, number> = {};

  for (const base of BASES) {
    it(`${base}: every image is identical to kolla-build's but for FROM and kolla_version`, async () => {
      const { rendered, project } = await importAndRender(SOURCE, base, base);
      const expectedImages = readdirSync(join(EXPECTED, base)).sort();
      const differences: string[] = [];
      let same = 0;
      for (const image of expectedImages) {
        const file = join(rendered, image, 'Dockerfile');
        if (!existsSync(file)) {
          differences.push(`${image}: not rendered`);
          continue;
        }
        const ours = comparable(readFileSync(file, 'utf8'));
        const theirs = comparable(readFileSync(join(EXPECTED, base, image, 'Dockerfile'), 'utf8'));
        if (ours === theirs) same++;
        else differences.push(`${image}: ${firstDifference(ours, theirs)}`);
      }
      identical[base] = same;
      console.log(
        `kolla ${base}: ${same} of ${expectedImages.length} Dockerfiles identical to kolla-build's`,
      );
      expect(differences).toEqual([]);
      expect(same).toBe(expectedImages.length);

      // Images kolla-build left out for this base are imported only when the checkout cannot say
      // so: the snapshot has no kolla/image/unbuildable.py.
      const extra = readdirSync(rendered).filter((i) => !expectedImages.includes(i));
      if (existsSync(join(SOURCE, 'kolla', 'image', 'unbuildable.py'))) expect(extra).toEqual([]);
      // FROM lines: the parent's exact build (fingerprint tag) or the base pinned by digest.
      const base0 = readFileSync(join(rendered, 'base', 'Dockerfile'), 'utf8');
      expect(base0.split('\n')[0]).toMatch(
        new RegExp(`^FROM ${registry.host}/stand-in/${base}@sha256:[0-9a-f]{64}$`),
      );
      const child = readFileSync(join(rendered, 'openstack-base', 'Dockerfile'), 'utf8');
      expect(child.split('\n')[0]).toMatch(new RegExp(`^FROM ${registry.host}/kolla/base:fp-[0-9a-f]{24}$`));
      expect(existsSync(join(project, 'images.yaml'))).toBe(true);
    });
  }

  it('with the unbuildable images the checkout lists, exactly the images kolla-build rendered', async () => {
    // The snapshot lacks kolla/image/unbuildable.py; a checkout with one says what kolla-build
    // leaves out. Build that file from what kolla-build rendered for each base, beside links to
    // the snapshot's own files.
    const checkout = join(work, 'with-unbuildable');
    const pkg = join(checkout, 'kolla');
    mkdirSync(join(pkg, 'image'), { recursive: true });
    for (const entry of ['docker', 'template', 'common'])
      symlinkSync(join(SOURCE, 'kolla', entry), join(pkg, entry));
    symlinkSync(join(SOURCE, 'kolla', 'image', 'kolla_worker.py'), join(pkg, 'image', 'kolla_worker.py'));
    const all = readdirSync(join(EXPECTED, 'debian')).concat(readdirSync(join(EXPECTED, 'ubuntu')));
    const table = BASES.map((b) => {
      const rendered = new Set(readdirSync(join(EXPECTED, b)));
      const left = [...new Set(all)].filter((i) => !rendered.has(i)).sort();
      return `    '${b}': {${left.map((i) => `"${i}"`).join(', ')}},`;
    });
    writeFileSync(join(pkg, 'image', 'unbuildable.py'), `UNBUILDABLE_IMAGES = {\n${table.join('\n')}\n}\n`);

    const { rendered } = await importAndRender(checkout, 'rocky', 'rocky-unbuildable');
    expect(readdirSync(rendered).sort()).toEqual(readdirSync(join(EXPECTED, 'rocky')).sort());
  });
});
