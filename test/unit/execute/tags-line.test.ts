// The apply's tags line says why no tag moved: a failure, an interrupt, or the registry going away.
import { describe, expect, it } from 'vitest';
import type { ImageOutcome } from '../../../src/execute/apply.js';
import { tagsLine } from '../../../src/execute/report.js';

const outcome = (status: ImageOutcome['status']) => ({ status }) as ImageOutcome;

describe('tagsLine', () => {
  it('held back: says whether an image failed or the apply was interrupted', () => {
    const held = { flip: null, tagsHeldBack: 3 };
    expect(tagsLine({ ...held, outcomes: [outcome('failed'), outcome('cancelled')] }, true)).toBe(
      'Tags: none moved (3 held back): an image failed, and tags are written only when the whole apply succeeds. Run apply again to finish.',
    );
    expect(tagsLine({ ...held, outcomes: [outcome('built'), outcome('cancelled')] }, true)).toContain(
      'none moved (3 held back): the apply was interrupted,',
    );
    expect(
      tagsLine({ ...held, registryProblem: 'ECONNREFUSED', outcomes: [outcome('cancelled')] }, true),
    ).toContain('none moved (3 held back): the registry stopped answering,');
  });
});
