import { describe, expect, it } from 'vitest';
import { ArborError } from '../../../src/errors.js';
import { renderTags, type TagContext } from '../../../src/render/tags.js';
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
      'tag template "c{{ env.CHANGE }}": environment variable CHANGE is not set',
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
});
