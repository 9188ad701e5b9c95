// The imported Kolla tree end to end, without building (its base images are not reachable here):
// validate, graph (every parent as kolla-build's own Dockerfiles say), fingerprint, explain, plan
// against a loopback registry holding a stand-in for the external base, and a no-op plan once
// every image exists. Then what an import must keep doing over time: a template override
// changes exactly one image and its descendants, so does a changed `*-archive` source, and a
// re-import keeps the user's edits and refuses to overwrite an edited generated value.
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { OCI_MANIFEST } from '../../src/registry/media-types.js';
import { RELEASE_FORMAT_VERSION } from '../../src/release/record.js';
import { writeRecord } from '../../src/release/store.js';
import { arbor } from '../support/cli.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { changedImages, fingerprintsOf, pushStandIns, subtreeOf } from './kolla-fixtures.js';
import { imageParts } from './registry-fixtures.js';

const SHARED = fileURLToPath(new URL('../../../shared/kolla/', import.meta.url));
const SOURCE = join(SHARED, 'source');
const BASE = 'rocky';
const EXPECTED = join(SHARED, 'expected', BASE);

let registry: TestRegistry;
let client: RegistryClient;
let work: string;
let project: string;

function importArgs(...extra: string[]): string[] {
  return [
    'import-kolla',
    SOURCE,
    '--out',
    project,
    '--base',
    BASE,
    '--registry',
    registry.host,
    '--insecure',
    '-o',
    `base_image=${registry.host}/stand-in/${BASE}`,
    ...extra,
  ];
}

function run(args: string[]) {
  return arbor([...args, '-f', join(project, 'images.yaml')]);
}

interface GraphJson {
  images: Array<{ name: string; parent: string | null; from: string | null; children: string[] }>;
}

const fingerprints = () => fingerprintsOf(join(project, 'images.yaml'));
const descendantsOf = (name: string) => subtreeOf(join(project, 'images.yaml'), name);

beforeAll(async () => {
  registry = await startRegistry();
  client = createRegistryClient({ registry: registry.host, insecure: true });
  work = mkdtempSync(join(tmpdir(), 'arbor-kolla-tree-'));
  project = join(work, 'project');
  const imported = arbor(importArgs());
  expect(imported.code, imported.stderr).toBe(0);
  await pushStandIns(client, registry.host, join(project, 'images.yaml'));
});

afterAll(async () => {
  await client?.close();
  if (registry) await destroyRegistry(registry);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the imported Kolla tree', () => {
  it('an option kolla-build does not know is refused before anything is written', () => {
    const elsewhere = join(work, 'typo');
    const args = importArgs('-o', 'basetag=2025.1');
    args[args.indexOf(project)] = elsewhere;
    const refused = arbor(args);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trimEnd()).toBe(
      "error: --option basetag: this Kolla's kolla-build has no such option (kolla/common/config.py)",
    );
    expect(existsSync(elsewhere)).toBe(false);
  });

  it("a site's --repos-yaml is kept in the project, and renders its repositories from any directory", () => {
    const site = join(work, 'site');
    const repos = join(work, 'site-repos.yaml');
    // Kolla replaces a repository's whole entry with the site's.
    writeFileSync(
      repos,
      'rpm:\n  docker-ce:\n    name: "docker-ce"\n    baseurl: "https://mirror.example.com/docker-ce/$basearch"\n' +
        '    gpgkey: "https://mirror.example.com/docker-ce/gpg"\n',
    );
    const args = importArgs('-o', `repos_yaml=${repos}`);
    args[args.indexOf(project)] = site;
    const imported = arbor(args);
    expect(imported.code, imported.stderr).toBe(0);
    expect(readFileSync(join(site, 'docker', 'repos-site.yaml'), 'utf8')).toBe(readFileSync(repos, 'utf8'));
    expect(readFileSync(join(site, 'images.yaml'), 'utf8')).toMatch(
      /^ {2}repos_yaml: docker\/repos-site\.yaml$/m,
    );
    rmSync(repos);
    const rendered = arbor(
      ['render', '-f', join(site, 'images.yaml'), '--out', join(work, 'site-rendered')],
      {
        cwd: tmpdir(),
      },
    );
    expect(rendered.code, rendered.stderr).toBe(0);
    const dockerfiles = readdirSync(join(work, 'site-rendered')).map((name) =>
      readFileSync(join(work, 'site-rendered', name, 'Dockerfile'), 'utf8'),
    );
    expect(dockerfiles.some((d) => d.includes('https://mirror.example.com/docker-ce/$basearch'))).toBe(true);
    expect(dockerfiles.some((d) => d.includes('https://download.docker.com/linux/centos/'))).toBe(false);
  });

  it('an error in a file every template includes is said once, at a path the user can open', () => {
    const broken = join(work, 'broken-kolla');
    cpSync(SOURCE, broken, { recursive: true });
    const macros = join(broken, 'kolla', 'docker', 'macros.j2');
    writeFileSync(macros, `{% if %}\n${readFileSync(macros, 'utf8')}`);
    const args = importArgs();
    args[args.indexOf(SOURCE)] = broken;
    args[args.indexOf(project)] = join(work, 'broken-project');
    const refused = arbor(args);
    expect(refused.code).toBe(1);
    const lines = refused.stderr.trimEnd().split('\n');
    expect(lines, refused.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^\S*broken-kolla\/kolla\/docker\/macros\.j2:1:\d+: error: images [a-z0-9-]+(, [a-z0-9-]+)* and \d+ more: /,
    );
    expect(existsSync(join(work, 'broken-project'))).toBe(false);
  });

  it('an override that cannot render stops the import, at its own line, before anything is written', () => {
    const override = join(work, 'bad-override.j2');
    writeFileSync(override, '{% extends parent_template %}\n{% block footer %}{{ greet() }}{% endblock %}\n');
    const args = importArgs('--template-override', override);
    args[args.indexOf(project)] = join(work, 'override-project');
    const refused = arbor(args);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/bad-override\.j2:2:\d+: error: images .* and \d+ more: .*greet/);
    expect(existsSync(join(work, 'override-project'))).toBe(false);
  });

  it('two image directories of one name are refused, naming both', () => {
    const twice = join(work, 'twice-kolla');
    cpSync(SOURCE, twice, { recursive: true });
    const docker = join(twice, 'kolla', 'docker');
    cpSync(join(docker, 'cron'), join(docker, 'extra', 'cron'), { recursive: true });
    const args = importArgs();
    args[args.indexOf(SOURCE)] = twice;
    args[args.indexOf(project)] = join(work, 'twice-project');
    const refused = arbor(args);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /error: 2 images named cron in \S+: (cron, extra\/cron|extra\/cron, cron) \(/,
    );
    expect(existsSync(join(work, 'twice-project'))).toBe(false);
  });

  it('validates', () => {
    const result = run(['validate']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/: \d+ images, 0 retention rules, ok/);
  });

  it("graph: each image's parent is the one kolla-build's Dockerfile names", () => {
    const result = run(['graph', '--format', 'json']);
    expect(result.code).toBe(0);
    const graph = JSON.parse(result.stdout) as GraphJson;
    const parentOf = new Map(graph.images.map((i) => [i.name, i.parent]));
    let checked = 0;
    for (const image of readdirSync(EXPECTED)) {
      const from = /^FROM (\S+)/m.exec(readFileSync(join(EXPECTED, image, 'Dockerfile'), 'utf8'))![1]!;
      // kolla-build's FROM: <namespace>/<image>:<tag> for a parent in the tree.
      const kollaParent = /^kolla\/([^:]+):/.exec(from)?.[1] ?? null;
      expect(parentOf.get(image), image).toBe(kollaParent);
      checked++;
    }
    expect(checked).toBe(readdirSync(EXPECTED).length);
    expect(graph.images.filter((i) => i.from !== null).map((i) => i.name)).toEqual(['base']);
  });

  it('fingerprint and explain: archive sources are inputs of the images that ADD them', () => {
    const fps = fingerprints();
    expect(fps.size).toBeGreaterThanOrEqual(readdirSync(EXPECTED).length);
    expect(new Set(fps.values()).size).toBe(fps.size);
    const explained = run(['explain', 'nova-base', '--offline']);
    expect(explained.stderr).toBe('');
    expect(explained.code).toBe(0);
    expect(explained.stdout).toMatch(/^file\s+sha256:[0-9a-f]{64}\s+kolla-sources\/nova-base\.json$/m);
    expect(explained.stdout).toMatch(/^parent\s+sha256:[0-9a-f]{64}\s+openstack-base /m);
  });

  it('plans every image as a build, then nothing once every image exists', async () => {
    const first = run(['plan', '--format', 'json']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const plan = JSON.parse(first.stdout) as {
      images: Array<{
        name: string;
        action: string;
        repository: string;
        tags: string[];
        fingerprintTag: string;
      }>;
      summary: { build: number };
    };
    expect(plan.summary.build).toBe(plan.images.length);
    expect(plan.images.every((i) => i.repository.startsWith(`${registry.host}/kolla/`))).toBe(true);
    // Kolla's naming: <registry>/<namespace>/<image>:<tag>, the tag being kolla-build's.
    expect(plan.images.find((i) => i.name === 'nova-api')!.tags).toEqual([kollaTag()]);

    // What apply would leave behind: each image under its fingerprint tag and its tags.
    const parts = imageParts({});
    const limit = pLimit(8);
    await Promise.all(
      plan.images.map((image) =>
        limit(async () => {
          const repository = image.repository.slice(registry.host.length + 1);
          for (const blob of [parts.config, ...parts.layers])
            await client.uploadBlob(repository, blob.digest, blob.bytes, blob.bytes.length);
          // The fingerprint tag last, as apply does.
          for (const tag of [...image.tags, image.fingerprintTag])
            await client.putManifest(repository, tag, parts.manifest, OCI_MANIFEST);
        }),
      ),
    );
    // Every image is there, but not the release's record (apply writes it after the tag burst):
    // the plan says that is all it lacks. With the record, nothing.
    const unrecorded = JSON.parse(run(['plan', '--format', 'json']).stdout) as {
      summary: { build: number; tag: number };
      release?: { name: string; record: string };
    };
    expect(unrecorded.summary).toMatchObject({ build: 0, tag: 0 });
    expect(unrecorded.release).toEqual({ name: kollaTag(), record: 'missing' });
    await writeRecord(client, 'kolla/arbor-releases', {
      formatVersion: RELEASE_FORMAT_VERSION,
      release: kollaTag(),
      created: new Date().toISOString(),
      registry: registry.host,
      namespace: 'kolla',
      configDigest: 'sha256:stand-in',
      images: [],
    });
    const noop = run(['plan', '--detailed-exitcode']);
    expect(noop.stderr).toBe('');
    expect(noop.code).toBe(0);
    expect(noop.stdout).toMatch(
      new RegExp(`No changes: 0 to build, 0 to tag, ${plan.images.length} unchanged`),
    );
  });

  it('a template override of one block of one image changes that image and its descendants only', () => {
    const before = fingerprints();
    const template = readFileSync(join(project, 'docker', 'nova', 'nova-base', 'Dockerfile.j2'), 'utf8');
    const block = /{% block (nova_base_footer) %}/.exec(template)![1];
    const override = join(work, 'nova-footer.j2');
    writeFileSync(
      override,
      `{% extends parent_template %}\n{% block ${block} %}\nRUN echo site-specific\n{% endblock %}\n`,
    );

    const result = arbor(importArgs('--template-override', override));
    expect(result.code, result.stderr).toBe(0);
    const after = fingerprints();
    expect(changedImages(before, after)).toEqual(descendantsOf('nova-base'));
    const rendered = run(['render', '--only', 'nova-base']).stdout;
    expect(rendered).toContain('RUN echo site-specific');

    // Taking the override away again restores every fingerprint.
    expect(arbor(importArgs()).code).toBe(0);
    expect(fingerprints()).toEqual(before);
  });

  it('a changed archive source changes the images that ADD it and their descendants only', () => {
    const before = fingerprints();
    const conf = join(work, 'kolla-build.conf');
    writeFileSync(
      conf,
      '[glance-base]\ntype = git\nlocation = https://opendev.org/openstack/glance\nreference = stable/2025.1\n',
    );
    const result = arbor(importArgs('--config', conf));
    expect(result.code, result.stderr).toBe(0);
    const lock = JSON.parse(readFileSync(join(project, 'kolla-sources', 'glance-base.json'), 'utf8'));
    expect(lock).toMatchObject({ type: 'git', reference: 'stable/2025.1' });
    expect(changedImages(before, fingerprints())).toEqual(descendantsOf('glance-base'));
    expect(arbor(importArgs()).code).toBe(0);
    expect(fingerprints()).toEqual(before);
  });

  it('a re-import keeps what the user added, and stops at an edited generated value', () => {
    const file = join(project, 'images.yaml');
    const text = readFileSync(file, 'utf8');
    const edited = `${text.replace('variables:\n', 'variables:\n  site: lab-1 # ours\n')}retention:\n  - repositories: ["*"]\n    keep_last: 3\n`;
    writeFileSync(file, edited);
    const again = arbor(importArgs());
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(edited);
    expect(again.stdout).toMatch(/0 files written, 0 deleted, \d+ unchanged; images.yaml unchanged/);

    const snapshot = join(work, 'snapshot');
    cpSync(project, snapshot, { recursive: true });
    const broken = edited.replace(
      'context: docker/nova/nova-api\n',
      'context: docker/nova/nova-api-custom\n',
    );
    writeFileSync(file, broken);
    writeFileSync(
      join(project, 'docker', 'macros.j2'),
      `${readFileSync(join(project, 'docker', 'macros.j2'), 'utf8')}\n{# mine #}\n`,
    );
    const refused = arbor(importArgs());
    expect(refused.code).toBe(1);
    const line = broken.split('\n').findIndex((l) => l.includes('nova-api-custom')) + 1;
    expect(refused.stderr).toContain(
      `images.yaml:${line}:14: error: images.nova-api.context was edited since the last import`,
    );
    expect(refused.stderr).toContain('docker/macros.j2 was edited since the last import');
    expect(readFileSync(file, 'utf8')).toBe(broken);

    const forced = arbor(importArgs('--force'));
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stderr).toContain(
      'warning: overwritten: images.nova-api.context was edited since the last import',
    );
    expect(readFileSync(file, 'utf8')).toBe(edited);
    expect(readFileSync(join(project, 'docker', 'macros.j2'))).toEqual(
      readFileSync(join(snapshot, 'docker', 'macros.j2')),
    );
  });
});

/** The tag kolla-build would give the images (`tag`, e.g. master-rocky-10), as imported. */
function kollaTag(): string {
  const config = YAML.parse(readFileSync(join(project, 'images.yaml'), 'utf8')) as {
    variables: { tag: string };
  };
  return config.variables.tag;
}
