import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArborError } from '../../../src/errors.js';
import {
  createRenderer,
  defaultParentRef,
  extraBuildArgs,
  PARENT_REF_ARG,
} from '../../../src/render/render.js';
import { makeConfig, makeImage, makeTree } from './fixture.js';

const LAYOUT = `# {{ image.name }}
{% block header %}
FROM {{ parent_ref }}
{% endblock %}
{% block body %}
{% endblock %}
{% block footer %}
LABEL release="{{ release }}"
{% endblock %}
`;

function failure(fn: () => unknown): ArborError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ArborError) return err;
    throw err;
  }
  throw new Error('expected an ArborError');
}

describe('renderDockerfile', () => {
  it('renders a template that extends a layout and replaces a block', () => {
    const root = makeTree({
      'templates/layout.njk': LAYOUT,
      'templates/tools.njk': `{% extends "layout.njk" %}
{% block body %}
RUN echo tools
{% endblock %}
`,
    });
    const config = makeConfig(root, { variables: { release: '2025.1' } });
    const out = createRenderer(config).renderDockerfile(
      makeImage('tools', { template: 'tools.njk' }),
      '127.0.0.1:5000/demo/base:fp-abc',
    );
    expect(out).toBe(
      '# tools\nFROM 127.0.0.1:5000/demo/base:fp-abc\nRUN echo tools\nLABEL release="2025.1"\n',
    );
  });

  it('imports macros with context: a macro sees the image and the variables without arguments', () => {
    const root = makeTree({
      'templates/macros.njk': `{% macro title() %}LABEL title="{{ image.name }} {{ release }}"{% endmacro %}
{% macro user(name, uid) %}
RUN adduser -D -u {{ uid }} {{ name }}
{% endmacro %}
`,
      'templates/svc.njk': `{% import "macros.njk" as m with context %}
FROM {{ parent_ref }}
{{ m.title() }}
{{ m.user("svc", 42) }}`,
    });
    const config = makeConfig(root, { variables: { release: '7' } });
    const out = createRenderer(config).renderDockerfile(makeImage('svc', { template: 'svc.njk' }), 'scratch');
    expect(out).toBe('FROM scratch\nLABEL title="svc 7"\nRUN adduser -D -u 42 svc\n');
  });

  it('applies the override chain: image template, then template_overrides, then the image override', () => {
    const root = makeTree({
      'templates/layout.njk': LAYOUT,
      'templates/a.njk': '{% extends "layout.njk" %}{% block body %}RUN echo a\n{% endblock %}',
      'templates/b.njk': '{% extends "layout.njk" %}{% block body %}RUN echo b\n{% endblock %}',
      'templates/site.njk':
        '{% extends parent_template %}{% block footer %}{{ super() }}LABEL site="lab"\n{% endblock %}',
      'templates/overrides/debug.njk':
        '{% extends parent_template %}{% block body %}{{ super() }}RUN echo debug\n{% endblock %}',
    });
    const config = makeConfig(root, { variables: { release: '1' }, templateOverrides: ['site.njk'] });
    const renderer = createRenderer(config);
    const a = makeImage('a', { template: 'a.njk', override: 'overrides/debug.njk' });
    const b = makeImage('b', { template: 'b.njk' });
    expect(renderer.templateChain(a)).toEqual(['a.njk', 'site.njk', 'overrides/debug.njk']);
    expect(renderer.renderDockerfile(a, 'scratch')).toBe(
      '# a\nFROM scratch\nRUN echo a\nRUN echo debug\nLABEL release="1"\nLABEL site="lab"\n',
    );
    // The shared override extends each image's own template, also after being cached for `a`.
    expect(renderer.renderDockerfile(b, 'scratch')).toBe(
      '# b\nFROM scratch\nRUN echo b\nLABEL release="1"\nLABEL site="lab"\n',
    );
    expect(renderer.renderDockerfile(a, 'scratch')).toContain('RUN echo debug');
  });

  it('gives templates parent_ref, variables (top level and as `variables`) and the image', () => {
    const root = makeTree({
      'templates/all.njk': `FROM {{ parent_ref }}
ARG V={{ variables.release }}-{{ release }}-p{{ patch }}
{% for k, v in image.args %}ARG {{ k }}={{ v }}
{% endfor %}
# {{ image.name }} parent={{ image.parent }} platforms={{ image.platforms | join(",") }} label={{ image.labels.team }}
`,
    });
    const config = makeConfig(root, { variables: { release: '2025.1', patch: 5 } });
    const image = makeImage('keystone', {
      template: 'all.njk',
      parent: 'keystone-base',
      args: { KEYSTONE_VERSION: '27.0.0' },
      platforms: ['linux/amd64'],
      labels: { team: 'identity' },
    });
    expect(createRenderer(config).renderDockerfile(image, '127.0.0.1:5000/demo/keystone-base:fp-123')).toBe(
      'FROM 127.0.0.1:5000/demo/keystone-base:fp-123\nARG V=2025.1-2025.1-p5\nARG KEYSTONE_VERSION=27.0.0\n' +
        '# keystone parent=keystone-base platforms=linux/amd64 label=identity\n',
    );
  });

  it('uses templates/<name>.Dockerfile.njk when the image names no template', () => {
    const root = makeTree({ 'templates/cron.Dockerfile.njk': 'FROM {{ parent_ref }}\n' });
    const config = makeConfig(root);
    expect(createRenderer(config).renderDockerfile(makeImage('cron', { from: 'scratch' }), null)).toBe(
      'FROM scratch\n',
    );
  });

  it('renders an unpinned parent repository when no parent ref is given', () => {
    const config = makeConfig(makeTree({ 'templates/x.njk': 'FROM {{ parent_ref }}\n' }));
    const image = makeImage('x', { template: 'x.njk', parent: 'base' });
    expect(createRenderer(config).renderDockerfile(image, null)).toBe('FROM 127.0.0.1:5000/demo/base\n');
    expect(
      defaultParentRef(config, makeImage('y', { from: 'example.org/lib/debian@sha256:' + 'a'.repeat(64) })),
    ).toBe('example.org/lib/debian@sha256:' + 'a'.repeat(64));
  });
});

describe('template errors', () => {
  function rendered(files: Record<string, string>, image = makeImage('keystone', { template: 'child.njk' })) {
    const root = makeTree({ 'templates/layout.njk': LAYOUT, ...files });
    const config = makeConfig(
      root,
      { variables: { release: '1' } },
      { 'images.keystone.template': { line: 9, col: 15 } },
    );
    const err = failure(() => createRenderer(config).renderDockerfile(image, 'scratch'));
    expect(err.diagnostics).toHaveLength(1);
    return { root, diagnostic: err.diagnostics[0]!, err };
  }

  it('names the undefined variable, the template, its line and column, and the image', () => {
    const { root, diagnostic, err } = rendered({
      'templates/child.njk':
        '{% extends "layout.njk" %}\n{% block body %}\nRUN echo {{ relase }}\n{% endblock %}\n',
    });
    expect(diagnostic.image).toBe('keystone');
    expect(diagnostic.message).toContain('undefined variable "relase"');
    expect(diagnostic.message).toContain('not defined under variables:');
    expect(path.resolve(diagnostic.loc!.file)).toBe(path.join(root, 'templates/child.njk'));
    expect(diagnostic.loc).toMatchObject({ line: 3, col: 10 });
    expect(err.message).toMatch(/child\.njk:3:10: error: image keystone: undefined variable "relase"/);
  });

  it('points into the parent layout when the undefined value is there', () => {
    const { root, diagnostic } = rendered({
      'templates/layout2.njk':
        'FROM {{ parent_ref }}\n{% block body %}{% endblock %}\nLABEL x={{ image.args.VERSION }}\n',
      'templates/child.njk': '{% extends "layout2.njk" %}{% block body %}RUN true\n{% endblock %}',
    });
    expect(diagnostic.message).toBe('undefined variable "image.args.VERSION"');
    expect(path.resolve(diagnostic.loc!.file)).toBe(path.join(root, 'templates/layout2.njk'));
    expect(diagnostic.loc).toMatchObject({ line: 3, col: 9 });
  });

  it('points into the macro file when a macro outputs an undefined value', () => {
    const { root, diagnostic } = rendered({
      'templates/macros.njk':
        '{% macro label() %}\nLABEL a={{ image.name }}\nLABEL b={{ image.labels.nope }}\n{% endmacro %}\n',
      'templates/child.njk': '{% import "macros.njk" as m with context %}\nFROM scratch\n{{ m.label() }}\n',
    });
    expect(diagnostic.message).toBe('undefined variable "image.labels.nope"');
    expect(path.resolve(diagnostic.loc!.file)).toBe(path.join(root, 'templates/macros.njk'));
    expect(diagnostic.loc).toMatchObject({ line: 3, col: 9 });
  });

  it('reports a syntax error with its position, also in an extended template', () => {
    const direct = rendered({ 'templates/child.njk': 'FROM scratch\nRUN echo {{ release }\n' });
    expect(direct.diagnostic.message).toContain('expected variable end');
    expect(path.resolve(direct.diagnostic.loc!.file)).toBe(path.join(direct.root, 'templates/child.njk'));
    expect(direct.diagnostic.loc).toMatchObject({ line: 2, col: 21 });

    const inParent = rendered({
      'templates/broken.njk': 'FROM scratch\n\n{% block body %}{% endblok %}\n',
      'templates/child.njk': '{% extends "broken.njk" %}{% block body %}RUN true{% endblock %}',
    });
    expect(path.resolve(inParent.diagnostic.loc!.file)).toBe(
      path.join(inParent.root, 'templates/broken.njk'),
    );
    expect(inParent.diagnostic.loc!.line).toBe(3);
    expect(inParent.diagnostic.message).toMatch(/endblok/);
  });

  it('points into the override template when the error is there', () => {
    const { root, diagnostic } = rendered(
      {
        'templates/child.njk': '{% extends "layout.njk" %}',
        'templates/ops.njk':
          '{% extends parent_template %}\n{% block body %}\nRUN {{ ops_cmd }}\n{% endblock %}',
      },
      makeImage('keystone', { template: 'child.njk', override: 'ops.njk' }),
    );
    expect(diagnostic.message).toContain('undefined variable "ops_cmd"');
    expect(path.resolve(diagnostic.loc!.file)).toBe(path.join(root, 'templates/ops.njk'));
    expect(diagnostic.loc).toMatchObject({ line: 3, col: 5 });
  });

  it('reports a call of something undefined at the call', () => {
    const { diagnostic } = rendered({ 'templates/child.njk': 'FROM scratch\n\nRUN {{ nothing_here() }}\n' });
    expect(diagnostic.message).toContain('Unable to call `nothing_here`');
    expect(diagnostic.loc).toMatchObject({ line: 3 });
  });

  it('finds include, extends and import loops by name before rendering, at the tag closing the loop', () => {
    const include = rendered({
      'templates/child.njk': 'FROM scratch\n{% include "a.njk" %}\n',
      'templates/a.njk': '# a\n{% include "b.njk" %}\n',
      'templates/b.njk': '{% if false %}{% include "a.njk" %}{% endif %}\n',
    });
    expect(include.diagnostic.message).toBe(
      'include loop: a.njk → b.njk → a.njk; templates may not load themselves, directly or through others',
    );
    expect(path.resolve(include.diagnostic.loc!.file)).toBe(path.join(include.root, 'templates/b.njk'));
    expect(include.diagnostic.loc).toMatchObject({ line: 1, col: 18 });

    const extendsItself = rendered({ 'templates/child.njk': '{% extends "./child.njk" %}\n' });
    expect(extendsItself.diagnostic.message).toMatch(/^extends loop: child\.njk extends itself;/);

    const imports = rendered({
      'templates/child.njk': '{% from "m1.njk" import x %}\nFROM scratch\n',
      'templates/m1.njk': '{% import "m2.njk" as m2 %}{% macro x() %}{% endmacro %}\n',
      'templates/m2.njk': '{% include "m1.njk" %}\n',
    });
    expect(imports.diagnostic.message).toMatch(/^template loop: m1\.njk → m2\.njk → m1\.njk;/);
  });

  it('turns recursion the names do not show into one short error, not a stack overflow', () => {
    const { diagnostic, err } = rendered({
      'templates/child.njk': '{% macro f(n) %}{{ f(n) }}{% endmacro %}\nFROM scratch\n{{ f(1) }}\n',
    });
    expect(diagnostic.message).toMatch(/^template child\.njk: template recursion too deep/);
    // Where the recursion runs is unknown after the stack overflowed: the image's template key.
    expect(diagnostic.loc?.file).toMatch(/images\.yaml$/);
    expect(err.message.length).toBeLessThan(300);
  });

  it('locates a tag left open at the end of its template, and an unknown filter at its use', () => {
    const open = rendered({ 'templates/child.njk': 'FROM scratch\n{% if release %}\nRUN true\n' });
    expect(open.diagnostic.message).toBe('expected elif, else, or endif, got end of file');
    expect(open.diagnostic.loc).toMatchObject({ line: 3, col: 9 });
    const filter = rendered({ 'templates/child.njk': 'FROM scratch\nLABEL r={{ release | shout }}\n' });
    expect(filter.diagnostic.message).toBe('filter not found: shout');
    expect(filter.diagnostic.loc).toMatchObject({ line: 2, col: 22 });
  });

  it('reports a template listed twice in the chain', () => {
    const { diagnostic } = rendered(
      { 'templates/child.njk': '{% extends "layout.njk" %}' },
      makeImage('keystone', { template: 'child.njk', override: './child.njk' }),
    );
    expect(diagnostic.message).toBe('template "child.njk" appears twice in the template chain');
  });

  it('reports an extended template that does not exist at the extends tag', () => {
    const { root, diagnostic } = rendered({ 'templates/child.njk': '# hi\n{% extends "nope.njk" %}\n' });
    expect(diagnostic.message).toContain('template "nope.njk" not found');
    expect(path.resolve(diagnostic.loc!.file)).toBe(path.join(root, 'templates/child.njk'));
    expect(diagnostic.loc!.line).toBe(2);
  });

  it('reports a missing image template at its key in images.yaml', () => {
    const { diagnostic } = rendered({}, makeImage('keystone', { template: 'missing.njk' }));
    expect(diagnostic).toMatchObject({ image: 'keystone', loc: { line: 9, col: 15 } });
    expect(diagnostic.message).toContain('template "missing.njk" not found');
  });

  it('refuses a template outside the templates directory', () => {
    const { diagnostic } = rendered(
      { 'secret.njk': 'x' },
      makeImage('keystone', { template: '../secret.njk' }),
    );
    expect(diagnostic.message).toContain('outside the templates directory');
    expect(diagnostic.loc).toMatchObject({ line: 9, col: 15 });
  });

  it('refuses parent_template in a template that is not an override', () => {
    const { diagnostic } = rendered({ 'templates/child.njk': '{% extends parent_template %}' });
    expect(diagnostic.message).toContain('parent_template is only defined in override templates');
    expect(diagnostic.loc!.file).toMatch(/child\.njk$/);
  });

  it('reports an image with neither template nor dockerfile', () => {
    const config = makeConfig(makeTree({}));
    const err = failure(() => createRenderer(config).renderDockerfile(makeImage('lost'), 'scratch'));
    expect(err.diagnostics[0]).toMatchObject({ image: 'lost' });
    expect(err.diagnostics[0]!.message).toContain('lost.Dockerfile.njk');
  });
});

describe('dockerfile images', () => {
  it('uses the Dockerfile as written and passes the parent as a build argument', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the Dockerfile's own ${} syntax.
    const dockerfile = 'ARG PARENT_REF\nFROM ${PARENT_REF}\nRUN echo "{{ not a template }}"\n';
    const root = makeTree({ 'images/legacy/Dockerfile': dockerfile });
    const config = makeConfig(root);
    const image = makeImage('legacy', { parent: 'base', dockerfile: 'images/legacy/Dockerfile' });
    expect(createRenderer(config).renderDockerfile(image, '127.0.0.1:5000/demo/base:fp-1')).toBe(dockerfile);
    expect(createRenderer(config).templateChain(image)).toEqual([]);
    expect(extraBuildArgs(image, '127.0.0.1:5000/demo/base:fp-1')).toEqual({
      [PARENT_REF_ARG]: '127.0.0.1:5000/demo/base:fp-1',
    });
    expect(extraBuildArgs(makeImage('t', { template: 't.njk' }), 'scratch')).toEqual({});
  });

  it('reports a missing Dockerfile at its key', () => {
    const config = makeConfig(makeTree({}), {}, { 'images.legacy.dockerfile': { line: 4, col: 17 } });
    const image = makeImage('legacy', { dockerfile: 'images/legacy/Dockerfile' });
    const err = failure(() => createRenderer(config).renderDockerfile(image, 'scratch'));
    expect(err.diagnostics[0]).toMatchObject({ image: 'legacy', loc: { line: 4, col: 17 } });
    expect(err.diagnostics[0]!.message).toBe('dockerfile "images/legacy/Dockerfile": not found');
  });
});
