import { describe, expect, it } from 'vitest';
import { ArborError } from '../../../src/errors.js';
import { renderImagesTags, renderTags, type TagContext } from '../../../src/render/tags.js';
import { makeConfig, makeImage } from './fixture.js';

const FINGERPRINT = `sha256:${'0123456789ab'.repeat(5)}abcd`;
const GIT = { commit: 'f'.repeat(40), shortCommit: 'f'.repeat(12), branch: 'main' };

function context(fields: Partial<TagContext> = {}): TagContext {
  return {
    fingerprint: FINGERPRINT,
    fingerprintTag: 'fp-0123456789ab0123456789ab',
    git: GIT,
    env: {},
    ...fields,
  };
}

function failure(fn: () => unknown): ArborError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ArborError) return err;
    throw err;
  }
  throw new Error('expected an ArborError');
}

const POSITIONS = {
  'tags.0': { line: 7, col: 5 },
  'tags.1': { line: 8, col: 5 },
  'images.keystone.tags.0': { line: 20, col: 9 },
};

describe('renderTags', () => {
  it('renders variables, image, git and listed env; drops duplicates and keeps order', () => {
    const config = makeConfig('/repo', {
      variables: { release: '2025.1', patch: 5 },
      env: ['CHANGE', 'PATCHSET'],
      tags: [
        '{{ release }}',
        '{{ variables.release }}-p{{ patch }}',
        '{{ release }}',
        '{{ image.name }}-{{ image.short_fingerprint }}',
        '{{ git.branch }}-{{ git.short_commit }}',
        '{{ release }}-p{{ patch }}-{{ env.CHANGE }}_{{ env.PATCHSET }}',
        '{{ image.fingerprint_tag }}',
      ],
    });
    const tags = renderTags(
      config,
      makeImage('keystone'),
      context({ env: { CHANGE: '19026', PATCHSET: '2', HOME: '/root' } }),
    );
    expect(tags).toEqual([
      '2025.1',
      '2025.1-p5',
      'keystone-0123456789ab',
      `main-${'f'.repeat(12)}`,
      '2025.1-p5-19026_2',
      'fp-0123456789ab0123456789ab',
    ]);
  });

  it('uses the image tags instead of the top-level ones', () => {
    const config = makeConfig('/repo', { variables: { release: '1' }, tags: ['{{ release }}'] });
    const image = makeImage('keystone', { tags: ['only-{{ release }}'] });
    expect(renderTags(config, image, context())).toEqual(['only-1']);
  });

  it('rejects a produced tag outside the OCI grammar at the tag template, all at once', () => {
    const config = makeConfig(
      '/repo',
      { variables: { release: '2025.1' }, tags: ['{{ release }} beta', '-x{{ release }}'] },
      POSITIONS,
    );
    const err = failure(() => renderTags(config, makeImage('keystone'), context()));
    expect(err.diagnostics).toHaveLength(2);
    expect(err.diagnostics[0]).toMatchObject({
      image: 'keystone',
      loc: { file: '/repo/images.yaml', line: 7, col: 5 },
    });
    expect(err.diagnostics[0]!.message).toContain(
      'tag template "{{ release }} beta" produced the invalid tag "2025.1 beta"',
    );
    expect(err.diagnostics[1]).toMatchObject({ image: 'keystone', loc: { line: 8, col: 5 } });
    expect(err.diagnostics[1]!.message).toContain('may not start with "." or "-"');
  });

  it('names a mapping printed into a tag instead of showing [object Object] as the problem', () => {
    const config = makeConfig(
      '/repo',
      { variables: { patch: { number: 6 } }, tags: ['p{{ patch }}'] },
      POSITIONS,
    );
    const err = failure(() => renderTags(config, makeImage('keystone'), context()));
    expect(err.diagnostics).toHaveLength(1);
    expect(err.diagnostics[0]!.message).toContain('it printed a mapping; print one of its values');
    expect(
      renderTags(
        makeConfig(
          '/repo',
          { variables: { patch: { number: 6 } }, tags: ['p{{ patch.number }}'] },
          POSITIONS,
        ),
        makeImage('keystone'),
        context(),
      ),
    ).toEqual(['p6']);
  });

  it("says an image's own variables are not a tag template's, when that is why a name is undefined", () => {
    const config = makeConfig('/repo', {}, POSITIONS);
    const image = makeImage('keystone', { tags: ['{{ flavor }}'], variables: { flavor: 'b' } });
    const err = failure(() => renderTags(config, image, context()));
    expect(err.diagnostics[0]!.message).toBe(
      'tag template "{{ flavor }}": undefined variable "flavor" (images.keystone.variables are for its Dockerfile template; tag templates see the top-level variables: of /repo/images.yaml)',
    );
  });

  it('locates an error in an image tag template at the image key', () => {
    const config = makeConfig('/repo', {}, POSITIONS);
    const err = failure(() =>
      renderTags(config, makeImage('keystone', { tags: ['{{ relase }}'] }), context()),
    );
    expect(err.diagnostics[0]).toMatchObject({ image: 'keystone', loc: { line: 20, col: 9 } });
    expect(err.diagnostics[0]!.message).toBe(
      'tag template "{{ relase }}": undefined variable "relase" (not defined under variables: in /repo/images.yaml)',
    );
  });

  it('refuses an environment variable that is not listed under env:, naming it', () => {
    const config = makeConfig('/repo', { env: ['CHANGE'], tags: ['{{ env.SECRET_TOKEN }}'] }, POSITIONS);
    const err = failure(() =>
      renderTags(config, makeImage('keystone'), context({ env: { SECRET_TOKEN: 'hunter22' } })),
    );
    expect(err.diagnostics[0]!.message).toContain('SECRET_TOKEN is not listed under env:');
    expect(err.diagnostics[0]!.message).not.toContain('hunter22');
    expect(err.diagnostics[0]!.loc).toMatchObject({ line: 7, col: 5 });
  });

  it('says which listed environment variable is unset, and lets default() cover it', () => {
    const config = makeConfig('/repo', { env: ['CHANGE'], tags: ['c{{ env.CHANGE }}'] });
    const err = failure(() => renderTags(config, makeImage('keystone'), context()));
    expect(err.diagnostics[0]!.message).toBe(
      'tag template "c{{ env.CHANGE }}": environment variable CHANGE is not set (give a default, e.g. {{ env.CHANGE | default("dev") }})',
    );
    const withDefault = makeConfig('/repo', {
      env: ['CHANGE'],
      tags: ['c{{ env.CHANGE | default("dev") }}'],
    });
    expect(renderTags(withDefault, makeImage('keystone'), context())).toEqual(['cdev']);
  });

  it('explains a git field that is unknown outside a repository', () => {
    const config = makeConfig('/repo', { tags: ['{{ git.short_commit }}'] });
    const err = failure(() => renderTags(config, makeImage('keystone'), context({ git: {} })));
    expect(err.diagnostics[0]!.message).toContain('undefined variable "git.short_commit"');
    expect(err.diagnostics[0]!.message).toContain('not in a git repository');
    const detached = failure(() =>
      renderTags(
        makeConfig('/repo', { tags: ['{{ git.branch }}'] }),
        makeImage('k'),
        context({ git: { commit: GIT.commit } }),
      ),
    );
    expect(detached.diagnostics[0]!.message).toContain('HEAD is detached');
  });

  it('reports a syntax error in a tag template with its column', () => {
    const config = makeConfig('/repo', { variables: { release: '1' }, tags: ['{{ release }'] }, POSITIONS);
    const err = failure(() => renderTags(config, makeImage('keystone'), context()));
    expect(err.diagnostics[0]!.message).toBe(
      'tag template "{{ release }": expected variable end at column 12',
    );
    expect(err.diagnostics[0]!.loc).toMatchObject({ line: 7, col: 5 });
  });

  it('counts an empty environment variable as unset: an error, unless the template gives a default', () => {
    const config = makeConfig('/repo', { env: ['BUILD_NO'], tags: ['2025.1-{{ env.BUILD_NO }}'] }, POSITIONS);
    const err = failure(() => renderTags(config, makeImage('keystone'), context({ env: { BUILD_NO: '' } })));
    expect(err.diagnostics[0]!.message).toBe(
      'tag template "2025.1-{{ env.BUILD_NO }}": environment variable BUILD_NO is empty (give a default, e.g. {{ env.BUILD_NO | default("dev") }})',
    );
    const withDefault = makeConfig('/repo', {
      env: ['BUILD_NO'],
      tags: ['2025.1-{{ env.BUILD_NO | default("dev") }}'],
    });
    expect(renderTags(withDefault, makeImage('k'), context({ env: { BUILD_NO: '' } }))).toEqual([
      '2025.1-dev',
    ]);
    expect(renderTags(withDefault, makeImage('k'), context({ env: { BUILD_NO: '42' } }))).toEqual([
      '2025.1-42',
    ]);
  });

  it('counts a variable set to "" or left empty as unset in tags, at any depth', () => {
    const config = makeConfig(
      '/repo',
      {
        variables: { release: '', patch: null, nested: { x: '' } },
        tags: ['{{ release }}', 'p{{ patch }}', '{{ variables.nested.x }}'],
      },
      POSITIONS,
    );
    const err = failure(() => renderTags(config, makeImage('keystone'), context()));
    expect(err.diagnostics.map((d) => d.message)).toEqual([
      'tag template "{{ release }}": variable "release" is empty in /repo/images.yaml (set it, or give a default, e.g. {{ release | default("dev") }})',
      'tag template "p{{ patch }}": variable "patch" is empty in /repo/images.yaml (set it, or give a default, e.g. {{ patch | default("dev") }})',
      'tag template "{{ variables.nested.x }}": variable "variables.nested.x" is empty in /repo/images.yaml (set it, or give a default, e.g. {{ variables.nested.x | default("dev") }})',
    ]);
    const defaults = makeConfig('/repo', {
      variables: { release: '' },
      tags: ['{{ release | default("dev") }}'],
    });
    expect(renderTags(defaults, makeImage('k'), context())).toEqual(['dev']);
  });

  it('reports a tag template failing for many images once, at the template, naming the images', () => {
    const config = makeConfig('/repo', { tags: ['{{ relase }}', '{{ image.name }}/x', 'ok'] }, POSITIONS);
    const names = ['a', 'b', 'c', 'd', 'e'];
    const rendered = renderImagesTags(
      config,
      names.map((name) => ({ image: makeImage(name), ctx: context() })),
    );
    expect(rendered.tags.size).toBe(0);
    expect(rendered.diagnostics).toEqual([
      {
        severity: 'error',
        message:
          'tag template "{{ relase }}": undefined variable "relase" (not defined under variables: in /repo/images.yaml)',
        loc: { file: '/repo/images.yaml', line: 7, col: 5 },
        images: names,
      },
      {
        severity: 'error',
        message:
          'tag template "{{ image.name }}/x" produced invalid tags ("a/x" for a, and 4 more): a tag may contain only letters, digits, "_", "." and "-", and may not start with "." or "-"',
        loc: { file: '/repo/images.yaml', line: 8, col: 5 },
        images: names,
      },
    ]);
  });

  it('gives the column of an unknown filter', () => {
    const config = makeConfig('/repo', { variables: { release: '1' }, tags: ['{{ release | shout }}'] });
    const err = failure(() => renderTags(config, makeImage('keystone'), context()));
    expect(err.diagnostics[0]!.message).toBe(
      'tag template "{{ release | shout }}": filter not found: shout at column 14',
    );
  });
});
