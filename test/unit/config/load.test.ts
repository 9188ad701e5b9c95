import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { lenientRaw } from '../../../src/config/lenient.js';
import { loadConfig, readConfig } from '../../../src/config/load.js';
import { NOTHING_REJECTED } from '../../../src/config/rejected.js';
import { ArborError, formatDiagnostic } from '../../../src/errors.js';
import { loadImageGraph } from '../../../src/graph/load.js';
import { SUPPORT_FILES, writeTree, yaml } from './tree.js';

const HEADER = ['version: 1', 'registry:', '  url: 127.0.0.1:5000', '  namespace: openstack', 'images:'];

const VALID = yaml(
  '# yaml-language-server: $schema=./schemas/images.schema.json',
  'version: 1',
  'registry:',
  '  url: 127.0.0.1:5000',
  '  namespace: openstack',
  '  insecure: true',
  'variables:',
  '  release: "2025.1"',
  'tags: ["{{ release }}", latest]',
  'images:',
  '  base:',
  '    from: scratch',
  '    template: base.Dockerfile.njk',
  '    context: images/base',
  '  openstack-base:',
  '    parent: base',
  '    args: { PATCH: 5, DEBUG: false }',
  '  keystone:',
  '    parent: openstack-base',
  '    inputs:',
  '      files: ["lists/keystone.txt", "lists/*.txt"]',
  '      env: [KEYSTONE_PIN]',
  'retention:',
  '  - repositories: ["*"]',
  '    keep_last: 5',
  "    keep_tags: ['^stable-']",
  '    keep_newer_than: 30d',
);

/** Every diagnostic of loading `images.yaml` (and building its graph), formatted as printed. */
async function problems(
  imagesYaml: string,
  files: Record<string, string> = SUPPORT_FILES,
): Promise<string[]> {
  const dir = await writeTree({ ...files, 'images.yaml': imagesYaml });
  try {
    await loadImageGraph('images.yaml', { cwd: dir });
  } catch (e) {
    if (e instanceof ArborError) return e.diagnostics.map(formatDiagnostic);
    throw e;
  }
  return [];
}

describe('loadConfig', () => {
  it('builds the typed model with defaults and file order', async () => {
    const dir = await writeTree({ ...SUPPORT_FILES, 'images.yaml': VALID });
    const config = await loadConfig('images.yaml', { cwd: dir });
    expect(config.file).toBe(path.join(dir, 'images.yaml'));
    expect(config.root).toBe(dir);
    expect(config.templatesDir).toBe(path.join(dir, 'templates'));
    expect(config.registry).toEqual({ url: '127.0.0.1:5000', namespace: 'openstack', insecure: true });
    expect(config.builder).toEqual({ name: 'docker', buildkit: true, network: 'none' });
    expect(config.fingerprint).toEqual({ tagPrefix: 'fp-' });
    expect(config.env).toEqual([]);
    expect(config.templateOverrides).toEqual([]);
    expect(config.tags).toEqual(['{{ release }}', 'latest']);
    expect(config.variables).toEqual({ release: '2025.1' });
    expect(config.images.map((i) => i.name)).toEqual(['base', 'openstack-base', 'keystone']);
    const [base, openstackBase, keystone] = config.images;
    expect(base).toMatchObject({ from: 'scratch', template: 'base.Dockerfile.njk', context: 'images/base' });
    expect(base!.loc).toEqual({ file: 'images.yaml', line: 11, col: 3 });
    // The default template rule: <name>.Dockerfile.njk under templates/.
    expect(openstackBase!.template).toBe('openstack-base.Dockerfile.njk');
    expect(openstackBase!.args).toEqual({ PATCH: '5', DEBUG: 'false' });
    expect(keystone!.inputs).toEqual({ files: ['lists/keystone.txt', 'lists/*.txt'], env: ['KEYSTONE_PIN'] });
    expect(keystone!.tags).toBeUndefined();
    expect(keystone!.platforms).toEqual([]);
    expect(keystone!.labels).toEqual({});
    expect(config.retention).toEqual([
      {
        index: 0,
        repositories: ['*'],
        keepLast: 5,
        order: 'created',
        keepTags: ['^stable-'],
        keepNewerThan: '30d',
        deleteUntagged: false,
        allowEmpty: false,
        loc: { file: 'images.yaml', line: 24, col: 5 },
      },
    ]);
    expect(config.warnings).toBeUndefined();
    expect(config.configDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('locates nodes: scalars at the value, mappings at their key, missing paths at the nearest ancestor', async () => {
    const dir = await writeTree({ ...SUPPORT_FILES, 'images.yaml': VALID });
    const config = await loadConfig('images.yaml', { cwd: dir });
    expect(config.locate(['images', 'keystone', 'parent'])).toEqual({
      file: 'images.yaml',
      line: 19,
      col: 13,
    });
    expect(config.locate(['images', 'keystone', 'inputs'])).toEqual({
      file: 'images.yaml',
      line: 20,
      col: 5,
    });
    expect(config.locate(['images', 'keystone', 'inputs', 'files', 1])).toEqual({
      file: 'images.yaml',
      line: 21,
      col: 37,
    });
    expect(config.locate(['images', 'keystone', 'context'])).toEqual({
      file: 'images.yaml',
      line: 18,
      col: 3,
    });
    expect(config.locate([])).toEqual({ file: 'images.yaml', line: 2, col: 1 });
  });

  it('keeps image order as written, even for names that look like numbers', async () => {
    const dir = await writeTree({
      'templates/b.Dockerfile.njk': '',
      'templates/7.Dockerfile.njk': '',
      'images.yaml': yaml(...HEADER, '  b:', '    from: scratch', '  "7":', '    parent: b'),
    });
    const config = await loadConfig('images.yaml', { cwd: dir });
    expect(config.images.map((i) => i.name)).toEqual(['b', '7']);
  });

  it('digests what the file says, not how it is written', async () => {
    const reordered = VALID.replace(
      '  namespace: openstack\n  insecure: true\n',
      '  insecure: true\n  namespace: openstack\n',
    )
      .replace('# yaml-language-server', '# another comment\n# yaml-language-server')
      .replace('"2025.1"', "'2025.1'");
    const changed = VALID.replace('keep_last: 5', 'keep_last: 6');
    const digests = await Promise.all(
      [VALID, reordered, changed].map(async (text) => {
        const dir = await writeTree({ ...SUPPORT_FILES, 'images.yaml': text });
        return (await loadConfig('images.yaml', { cwd: dir })).configDigest;
      }),
    );
    expect(reordered).not.toBe(VALID);
    expect(digests[1]).toBe(digests[0]);
    expect(digests[2]).not.toBe(digests[0]);
  });

  it('shows paths relative to the working directory', async () => {
    const dir = await writeTree({
      ...SUPPORT_FILES,
      'conf/images.yaml': yaml(...HEADER, '  base:', '    from: scratch'),
    });
    const result = await readConfig('conf/images.yaml', { cwd: dir });
    expect(result.diagnostics.map(formatDiagnostic)).toEqual([
      'conf/images.yaml:6:3: error: image base: no Dockerfile: set "template" or "dockerfile", or create conf/templates/base.Dockerfile.njk',
    ]);
  });

  it('returns warnings on the config and does not fail for them', async () => {
    const dir = await writeTree({
      ...SUPPORT_FILES,
      'images.yaml': yaml(
        ...HEADER,
        '  base:',
        '    from: scratch',
        'retention:',
        '  - repositories: [base]',
        "    tag_pattern: '^v(\\d+)$'",
      ),
    });
    const config = await loadConfig('images.yaml', { cwd: dir });
    expect(config.warnings?.map(formatDiagnostic)).toEqual([
      'images.yaml:9:5: warning: this rule keeps nothing: add keep_last, keep_tags or keep_newer_than (or allow_empty: true if every tag may go)',
      'images.yaml:10:18: warning: tag_pattern is used only with order: tag-pattern; it is ignored here',
    ]);
  });
});

describe('bad input: each problem with file:line:col, all at once', () => {
  it('a missing file', async () => {
    expect(await problems('', {})).toEqual([
      'images.yaml:1:1: error: the file must be a mapping (key: value), not empty',
    ]);
    const dir = await writeTree({});
    await expect(loadConfig('nope.yaml', { cwd: dir })).rejects.toThrow(
      'error: cannot read nope.yaml: no such file',
    );
  });

  it('YAML syntax errors', async () => {
    expect(await problems(yaml(...HEADER, '  base: [scratch', 'retention: []'))).toEqual([
      'images.yaml:7:1: error: YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
    expect(await problems(yaml(...HEADER, '  base:', '    from: "scratch'))).toHaveLength(1);
  });

  it('unsafe and unknown YAML tags are errors, not strings', async () => {
    expect(
      await problems(
        yaml(...HEADER, '  base:', '    from: scratch', '    labels:', '      x: !!js/function "f()"'),
      ),
    ).toEqual([
      'images.yaml:9:10: error: YAML tag !!js/function is not allowed: images.yaml holds plain data (strings, numbers, true/false, lists, mappings)',
    ]);
    expect(await problems(yaml('version: !!binary MQ==', ...HEADER.slice(1)))).toEqual([
      'images.yaml:1:10: error: YAML tag !!binary is not allowed: images.yaml holds plain data (strings, numbers, true/false, lists, mappings)',
    ]);
  });

  it('a binary, non-UTF-8 or huge file is summarised, never echoed', async () => {
    const dir = await writeTree({});
    const at = async (bytes: Buffer) => {
      await writeFile(path.join(dir, 'images.yaml'), bytes);
      return (await readConfig('images.yaml', { cwd: dir })).diagnostics.map(formatDiagnostic);
    };
    const binary = Buffer.concat([Buffer.from('version: 1\nab'), Buffer.alloc(100_000, 0)]);
    expect(await at(binary)).toEqual([
      'images.yaml:2:3: error: not a text file (100,013 bytes; a NUL byte at byte 13)',
    ]);
    expect(await at(Buffer.from('version: 1\nregistry: \xe2\x82\n', 'latin1'))).toEqual([
      'images.yaml:2:11: error: not a text file (24 bytes; invalid UTF-8 at byte 21)',
    ]);
    expect(await at(Buffer.from('x'.repeat(40 * 1024 * 1024)))).toEqual([
      'images.yaml:1:1: error: 41,943,040 bytes: too large for an images file (at most 32 MiB)',
    ]);
    const garbage = await at(Buffer.from('key: [unclosed\n- item\n'.repeat(100)));
    expect(garbage).toHaveLength(11);
    expect(garbage[10]).toMatch(
      /^images\.yaml:\d+:1: error: \d+ more YAML errors \(is this a YAML file\?\)$/,
    );
    const long = await at(Buffer.from('y'.repeat(100_000)));
    expect(long).toEqual([
      `images.yaml:1:1: error: the file must be a mapping (key: value), not string "${'y'.repeat(60)}…" (100,000 characters)`,
    ]);
  });

  it('duplicate keys and duplicate image names', async () => {
    expect(
      await problems(
        yaml(...HEADER, '  base:', '    from: scratch', '    from: busybox', '  base:', '    from: scratch'),
      ),
    ).toEqual([
      'images.yaml:8:5: error: duplicate key "from"',
      'images.yaml:9:3: error: duplicate image name "base"',
    ]);
  });

  it('several schema violations, reported together in file order', async () => {
    expect(
      await problems(
        yaml(
          'version: 2',
          'registry:',
          '  url: 127.0.0.1:5000',
          'builder:',
          '  name: dockr',
          'images:',
          '  base:',
          '    from: scratch',
          '    paren: x',
          '    platforms: [amd64]',
          '    args: { 1X: a }',
          '  UPPER:',
          '    from: scratch',
          'retention:',
          '  - repositories: []',
          '    keep_last: -1',
          '    keep_newer_than: 30days',
          '    order: tag-pattern',
        ),
      ),
    ).toEqual([
      'images.yaml:1:10: error: version must be 1, not 2',
      'images.yaml:5:9: error: builder.name must be one of docker, buildah, podman, buildx, not "dockr" (did you mean "docker"?)',
      'images.yaml:9:5: error: image base: unknown key "paren" (did you mean "parent"?)',
      'images.yaml:10:17: error: image base: platforms[0] "amd64": a platform is os/arch[/variant], e.g. linux/amd64',
      'images.yaml:11:13: error: invalid name "1X": a build argument name is letters, digits and "_", not starting with a digit',
      'images.yaml:12:3: error: invalid image name "UPPER": an image name is lowercase letters and digits separated by ".", "_", "__" or "-"',
      'images.yaml:15:5: error: retention[0]: missing required key "tag_pattern"',
      'images.yaml:15:5: error: retention[0].repositories must not be empty',
      'images.yaml:16:16: error: retention[0].keep_last must be at least 0, not -1',
      'images.yaml:17:22: error: retention[0].keep_newer_than "30days": a duration is a number and a unit s, m, h, d or w, e.g. 30d',
    ]);
  });

  it('unknown top-level keys, missing sections, repeated list entries, templates_dir outside', async () => {
    expect(
      await problems(
        yaml(
          'version: 1',
          'registry: { url: 127.0.0.1:5000 }',
          'templates_dir: ../templates',
          'env: [CI, CI]',
          'imags:',
          '  base:',
          '    from: scratch',
        ),
      ),
    ).toEqual([
      'images.yaml:1:1: error: missing required key "images"',
      expect.stringMatching(/^images\.yaml:3:16: error: templates_dir \/.*\/templates is outside \.$/),
      'images.yaml:4:11: error: env lists "CI" twice',
      'images.yaml:5:1: error: unknown key "imags" (did you mean "images"?)',
    ]);
    expect(
      await problems(yaml(...HEADER, '  base:', '    from: scratch', '    content_fingerprint: {}'), {}),
    ).toEqual(['images.yaml:8:5: error: image base: content_fingerprint: missing required key "command"']);
    expect(
      await problems(yaml('templates_dir: ../t', ...HEADER, '  base:', '    from: scratch'), {}),
    ).toEqual([expect.stringMatching(/^images\.yaml:1:16: error: templates_dir \/.*\/t is outside \.$/)]);
  });

  it('parent and from, template and dockerfile', async () => {
    expect(
      await problems(
        yaml(
          ...HEADER,
          '  base:',
          '    template: base.Dockerfile.njk',
          '    dockerfile: Dockerfile',
          '  other:',
          '    parent: base',
          '    from: scratch',
          '    override: x.njk',
          '    dockerfile: Dockerfile',
        ),
      ),
    ).toEqual([
      'images.yaml:6:3: error: image base: an image needs exactly one of "parent" (an image of this file) or "from" (an external base such as scratch)',
      'images.yaml:6:3: error: image base: "template" and "dockerfile" are exclusive: set one of them',
      'images.yaml:8:17: error: image base: dockerfile Dockerfile does not exist',
      'images.yaml:9:3: error: image other: an image needs exactly one of "parent" (an image of this file) or "from" (an external base such as scratch)',
      'images.yaml:9:3: error: image other: "override" extends a template; it cannot be used with "dockerfile"',
      'images.yaml:12:15: error: image other: override templates/x.njk does not exist',
      'images.yaml:13:17: error: image other: dockerfile Dockerfile does not exist',
    ]);
  });

  it('wrong types', async () => {
    expect(
      await problems(
        yaml(
          'version: 1',
          'registry: 127.0.0.1:5000',
          'images:',
          '  base:',
          '    from: scratch',
          '    tags: latest',
        ),
      ),
    ).toEqual([
      'images.yaml:2:11: error: registry must be a mapping (key: value), not string "127.0.0.1:5000"',
      'images.yaml:6:11: error: image base: tags must be a list, not string "latest"',
    ]);
  });

  it('unknown parent, self-parent and cycles', async () => {
    expect(
      await problems(
        yaml(
          ...HEADER,
          '  base:',
          '    template: base.Dockerfile.njk',
          '    from: scratch',
          '  keystone:',
          '    parent: bsae',
          '  self:',
          '    parent: self',
          '  a:',
          '    parent: b',
          '  b:',
          '    parent: c',
          '  c:',
          '    parent: a',
        ),
        {
          ...SUPPORT_FILES,
          'templates/self.Dockerfile.njk': '',
          'templates/a.Dockerfile.njk': '',
          'templates/b.Dockerfile.njk': '',
          'templates/c.Dockerfile.njk': '',
        },
      ),
    ).toEqual([
      'images.yaml:10:13: error: image keystone: unknown parent "bsae" (did you mean "base"?)',
      'images.yaml:12:13: error: image self: is its own parent',
      "images.yaml:14:13: error: image a: images form a cycle: a → b → c → a (each image's parent follows it)",
    ]);
  });

  it('missing template, dockerfile, context, override, input file and template override', async () => {
    expect(
      await problems(
        yaml(
          'version: 1',
          'registry: { url: 127.0.0.1:5000 }',
          'template_overrides: [site.njk]',
          'images:',
          '  base:',
          '    from: scratch',
          '    template: bsae.Dockerfile.njk',
          '    context: images/nope',
          '  keystone:',
          '    parent: base',
          '    dockerfile: docker/Dockerfile',
          '    inputs: { files: [lists/missing.txt, "lists/none-*.txt"] }',
          '  nova:',
          '    parent: base',
          '    override: nova-override.njk',
          '    context: lists/keystone.txt',
        ),
      ),
    ).toEqual([
      'images.yaml:3:22: error: template override templates/site.njk does not exist',
      'images.yaml:7:15: error: image base: template templates/bsae.Dockerfile.njk does not exist (did you mean "base.Dockerfile.njk"?)',
      'images.yaml:8:14: error: image base: context images/nope does not exist',
      'images.yaml:11:17: error: image keystone: dockerfile docker/Dockerfile does not exist',
      'images.yaml:12:23: error: image keystone: input file lists/missing.txt does not exist',
      'images.yaml:13:3: error: image nova: no Dockerfile: set "template" or "dockerfile", or create templates/nova.Dockerfile.njk',
      'images.yaml:15:15: error: image nova: override templates/nova-override.njk does not exist',
      'images.yaml:16:14: error: image nova: context lists/keystone.txt is not a directory',
    ]);
  });

  it('paths that escape the repository', async () => {
    expect(
      await problems(
        yaml(
          ...HEADER,
          '  base:',
          '    from: scratch',
          '    template: ../base.Dockerfile.njk',
          '    context: ../x',
          '  keystone:',
          '    parent: base',
          '    dockerfile: /etc/passwd',
          '    inputs: { files: ["lists/../../secret", "/etc/*"] }',
          '  linked:',
          '    parent: base',
          '    context: outside',
        ),
        { ...SUPPORT_FILES, 'templates/linked.Dockerfile.njk': '', outside: '-> /tmp' },
      ),
    ).toEqual([
      'images.yaml:8:15: error: image base: template "../base.Dockerfile.njk" leads outside the templates directory (templates)',
      'images.yaml:9:14: error: image base: context "../x" leads outside the repository (.)',
      'images.yaml:12:17: error: image keystone: dockerfile "/etc/passwd" must be a path relative to images.yaml',
      'images.yaml:13:23: error: image keystone: input "lists/../../secret" leads outside the repository (.)',
      'images.yaml:13:45: error: image keystone: input "/etc/*" must be a path relative to images.yaml',
      'images.yaml:16:14: error: image linked: context outside is a symlink to /tmp, outside the repository',
    ]);
  });

  it('invalid registry, namespace, external base and literal tags', async () => {
    expect(
      await problems(
        yaml(
          'version: 1',
          'registry:',
          '  url: http://x',
          '  namespace: UPPER',
          'tags: ["bad tag"]',
          'images:',
          '  base:',
          '    from: UPPER/thing:1.0',
          '    template: base.Dockerfile.njk',
          '    tags: [".hidden", "{{ release }}"]',
        ),
      ),
    ).toEqual([
      'images.yaml:3:8: error: invalid registry "http://x": registry is host[:port] without a scheme',
      'images.yaml:4:14: error: invalid namespace "UPPER": repository name must be lowercase',
      'images.yaml:5:8: error: invalid tag "bad tag": a tag may contain only letters, digits, "_", "." and "-", and may not start with "." or "-"',
      'images.yaml:8:11: error: image base: from: invalid reference "UPPER/thing:1.0": repository name must be lowercase',
      'images.yaml:10:12: error: image base: invalid tag ".hidden": a tag may contain only letters, digits, "_", "." and "-", and may not start with "." or "-"',
    ]);
  });

  it('an image named like a repository arbor writes for itself (release records, deletion markers)', async () => {
    expect(
      await problems(
        yaml(
          ...HEADER,
          '  arbor-releases:',
          '    from: scratch',
          '    dockerfile: Dockerfile',
          '  arbor-deleting:',
          '    from: scratch',
          '    dockerfile: Dockerfile',
        ),
        { Dockerfile: 'FROM scratch\n' },
      ),
    ).toEqual([
      `images.yaml:6:3: error: image arbor-releases: named like the repository of arbor's release records (releases.repository): each would overwrite the other's tags; rename the image or set releases.repository`,
      `images.yaml:9:3: error: image arbor-deleting: named like the repository of retention's deletion markers: each would overwrite the other's tags; rename the image`,
    ]);
  });

  it('a repository name longer than registries accept', async () => {
    const long = 'a'.repeat(240);
    expect(
      await problems(yaml(...HEADER, `  ${long}:`, '    from: scratch', '    dockerfile: Dockerfile'), {
        Dockerfile: 'FROM scratch\n',
      }),
    ).toEqual([
      `images.yaml:6:3: error: image ${long}: repository 127.0.0.1:5000/openstack/${long} is 265 characters long (at most 255)`,
    ]);
  });

  it('retention regexes (RE2), tag patterns and durations', async () => {
    expect(
      await problems(
        yaml(
          ...HEADER,
          '  base:',
          '    from: scratch',
          '    template: base.Dockerfile.njk',
          'retention:',
          '  - repositories: ["*"]',
          "    keep_tags: ['^stable-', '(', '(?<=v)1']",
          '    order: tag-pattern',
          "    tag_pattern: '^v\\d+$'",
          '    keep_newer_than: 99999999999999999w',
        ),
      ),
    ).toEqual([
      'images.yaml:11:29: error: invalid regex "(" in keep_tags: missing closing ): `(`',
      'images.yaml:11:34: error: invalid regex "(?<=v)1" in keep_tags: invalid named capture: `(?<=v)1`',
      'images.yaml:13:18: error: tag_pattern "^v\\d+$" needs a capture group: its value orders the versions',
      'images.yaml:14:22: error: keep_newer_than "99999999999999999w": duration 99999999999999999w is too long',
    ]);
  });
});

describe('schema errors do not hide the other checks: one run reports everything', () => {
  it('schema, value, graph and file problems together, in file order', async () => {
    expect(
      await problems(
        yaml(
          'version: 1',
          'registry:',
          '  url: "http://x"',
          '  namespace: openstack',
          'images:',
          '  base:',
          '    from: scratch',
          '    paren: x',
          '    template: base.Dockerfile.njk',
          '  keystone:',
          '    parent: bsae',
          '    context: images/nope',
          'retention:',
          '  - repositories: ["*"]',
          '    keep_last: -1',
          "    keep_tags: ['(']",
        ),
      ),
    ).toEqual([
      'images.yaml:3:8: error: invalid registry "http://x": registry is host[:port] without a scheme',
      'images.yaml:8:5: error: image base: unknown key "paren" (did you mean "parent"?)',
      'images.yaml:11:13: error: image keystone: unknown parent "bsae" (did you mean "base"?)',
      'images.yaml:12:14: error: image keystone: context images/nope does not exist',
      'images.yaml:15:16: error: retention[0].keep_last must be at least 0, not -1',
      'images.yaml:16:17: error: invalid regex "(" in keep_tags: missing closing ): `(`',
    ]);
  });

  it('loadConfig throws for schema errors even though a model was built', async () => {
    const dir = await writeTree({
      ...SUPPORT_FILES,
      'images.yaml': yaml(...HEADER, '  base:', '    from: scratch', '    paren: x'),
    });
    await expect(loadConfig('images.yaml', { cwd: dir })).rejects.toThrow(
      'images.yaml:8:5: error: image base: unknown key "paren" (did you mean "parent"?)',
    );
    const result = await readConfig('images.yaml', { cwd: dir });
    expect(result.config).toBeUndefined();
    expect(result.model?.images.map((i) => i.name)).toEqual(['base']);
  });

  it('images written as a list', async () => {
    expect(
      await problems(yaml('version: 1', 'registry: { url: 127.0.0.1:5000 }', 'images:', '  - base')),
    ).toEqual(['images.yaml:3:1: error: images must be a mapping (key: value), not a list']);
  });

  it('an image written as a string: only its type is reported, and its children still find it', async () => {
    expect(
      await problems(
        yaml(
          'version: 1',
          'registry: { url: 127.0.0.1:5000 }',
          'images:',
          '  base: scratch',
          '  keystone:',
          '    parent: base',
          '  glance:',
          '    parent: nope',
          '    template: glance.njk',
        ),
      ),
    ).toEqual([
      'images.yaml:4:9: error: image base: the image must be a mapping (key: value), not string "scratch"',
      'images.yaml:8:13: error: image glance: unknown parent "nope"',
      'images.yaml:9:15: error: image glance: template templates/glance.njk does not exist',
    ]);
  });

  it('fields of the wrong type are reported once; their siblings are still checked', async () => {
    expect(
      await problems(
        yaml(
          'version: 1',
          'registry: { url: 127.0.0.1:5000 }',
          'images:',
          '  base:',
          '    from: scratch',
          '    args: [A, B]',
          '    labels: 5',
          '    inputs: { files: [5, "lists/missing.txt"] }',
          '    tags: [5, "bad tag"]',
        ),
      ),
    ).toEqual([
      'images.yaml:6:5: error: image base: args must be a mapping (key: value), not a list',
      'images.yaml:7:13: error: image base: labels must be a mapping (key: value), not the number 5',
      'images.yaml:8:23: error: image base: inputs.files[0] must be a string, not the number 5',
      'images.yaml:8:26: error: image base: input file lists/missing.txt does not exist',
      'images.yaml:9:12: error: image base: tags[0] must be a string, not the number 5',
      'images.yaml:9:15: error: image base: invalid tag "bad tag": a tag may contain only letters, digits, "_", "." and "-", and may not start with "." or "-"',
    ]);
  });

  it('a parent that is a number or an invalid name is not also an unknown parent', async () => {
    expect(
      await problems(
        yaml(
          'version: 1',
          'registry: { url: 127.0.0.1:5000 }',
          'images:',
          '  base:',
          '    from: scratch',
          '  keystone:',
          '    parent: 5',
          '    template: 7',
          '  UPPER:',
          '    parent: base',
          '  child:',
          '    parent: UPPER',
        ),
        { ...SUPPORT_FILES, 'templates/child.Dockerfile.njk': '' },
      ),
    ).toEqual([
      'images.yaml:7:13: error: image keystone: parent must be a string, not the number 5',
      'images.yaml:8:15: error: image keystone: template must be a string, not the number 7',
      'images.yaml:9:3: error: invalid image name "UPPER": an image name is lowercase letters and digits separated by ".", "_", "__" or "-"',
      'images.yaml:12:13: error: image child: parent "UPPER": an image name is lowercase letters and digits separated by ".", "_", "__" or "-"',
    ]);
  });

  it('values the schema rejected are not checked again, and rules with rejected parts get no warnings', async () => {
    expect(
      await problems(
        yaml(
          'version: 1',
          'registry: { url: "", namespace: 5 }',
          'templates_dir: 5',
          'tags: [""]',
          'images:',
          '  base:',
          '    from: ""',
          '    dockerfile: ""',
          'retention:',
          '  - 5',
          '  - repositories: [x]',
          '    keep_lats: 5',
          '  - repositories: [x]',
          '    order: nope',
          "    tag_pattern: '(x)'",
          '    keep_last: 1',
          '  - { repositories: [x], keep_tags: 5 }',
          '  - { repositories: [x], keep_newer_than: 30days, keep_tags: ["("] }',
        ),
      ),
    ).toEqual([
      'images.yaml:2:18: error: registry.url "": must not be empty',
      'images.yaml:2:33: error: registry.namespace must be a string, not the number 5',
      'images.yaml:3:16: error: templates_dir must be a string, not the number 5',
      'images.yaml:4:8: error: tags[0] "": must not be empty',
      'images.yaml:7:11: error: image base: from "": must not be empty',
      'images.yaml:8:17: error: image base: dockerfile "": must not be empty',
      'images.yaml:10:5: error: retention[0] must be a mapping (key: value), not the number 5',
      'images.yaml:12:5: error: unknown key "keep_lats" in retention[1] (did you mean "keep_last"?)',
      'images.yaml:14:12: error: retention[2].order must be one of created, semver, tag-pattern, not "nope"',
      'images.yaml:17:37: error: retention[3].keep_tags must be a list, not the number 5',
      'images.yaml:18:43: error: retention[4].keep_newer_than "30days": a duration is a number and a unit s, m, h, d or w, e.g. 30d',
      'images.yaml:18:63: error: invalid regex "(" in keep_tags: missing closing ): `(`',
    ]);
  });

  it('duplicate keys do not stop the other checks; the first occurrence counts', async () => {
    expect(
      await problems(
        yaml(...HEADER, '  base:', '    from: UPPER', '    from: scratch', '  keystone:', '    parent: nope'),
      ),
    ).toEqual([
      'images.yaml:7:11: error: image base: from: invalid reference "UPPER": repository name must be lowercase',
      'images.yaml:8:5: error: duplicate key "from"',
      'images.yaml:10:13: error: image keystone: unknown parent "nope"',
    ]);
  });

  it('a recursive alias is a YAML error at the alias, not a crash', async () => {
    expect(
      await problems(yaml(...HEADER, '  base:', '    from: scratch', 'variables: &v { x: *v }')),
    ).toEqual(['images.yaml:8:20: error: YAML: alias *v refers to a node that contains it']);
  });

  it('the lenient reading of a file the schema accepts is the file itself', () => {
    const data = parse(VALID);
    expect(lenientRaw(data, NOTHING_REJECTED)).toEqual({ builder: {}, fingerprint: {}, ...data });
  });

  it('loading random mutations of a valid file returns a Config or throws ArborError, nothing else', async () => {
    const dir = await writeTree(SUPPORT_FILES);
    const lines = VALID.trimEnd().split('\n');
    const junk = fc.constantFrom(
      '5',
      '-1',
      '""',
      '~',
      'true',
      '[]',
      '{}',
      '[a, 5, {b: c}]',
      '{ x: [1] }',
      '"{{ x }}"',
      '../..',
      '/etc',
      'UPPER',
      '(',
      'base',
      'keystone',
      '&a [*a]',
    );
    const mutation = fc.oneof(
      // Replace a value after its colon (or a list item) with junk.
      fc.record({ kind: fc.constant('value' as const), line: fc.nat(), value: junk }),
      // Drop a line, or duplicate it.
      fc.record({ kind: fc.constantFrom('drop' as const, 'repeat' as const), line: fc.nat() }),
      // Insert a key with junk, at some indentation.
      fc.record({
        kind: fc.constant('insert' as const),
        line: fc.nat(),
        indent: fc.constantFrom('', '  ', '    ', '      '),
        key: fc.constantFrom('parent', 'from', 'args', 'images', 'paren', 'tags', 'inputs', 'retention', 'x'),
        value: junk,
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (mutations) => {
        const text = [...lines];
        for (const m of mutations) {
          const at = m.line % text.length;
          if (m.kind === 'value') text[at] = text[at]!.replace(/(:\s|-\s)(.*)$/, `$1${m.value}`);
          else if (m.kind === 'drop') text.splice(at, 1);
          else if (m.kind === 'repeat') text.splice(at, 0, text[at]!);
          else if (m.kind === 'insert') text.splice(at, 0, `${m.indent}${m.key}: ${m.value}`);
        }
        await writeFile(path.join(dir, 'images.yaml'), `${text.join('\n')}\n`);
        for (const load of [loadConfig, loadImageGraph]) {
          try {
            await load('images.yaml', { cwd: dir });
          } catch (e) {
            if (!(e instanceof ArborError)) throw e;
            const printed = e.diagnostics.map(formatDiagnostic);
            expect(new Set(printed).size).toBe(printed.length);
            for (const d of e.diagnostics) expect(d.loc?.file).toBe('images.yaml');
          }
        }
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 300) },
    );
  }, 60_000);
});
