// planSync with plain values: a tag or a manifest the site answers 500 for (a link a crash left
// empty) is written again like a missing one, and the plan says why.
import { describe, expect, it } from 'vitest';
import { type ImageFacts, planSync } from '../../../src/sync/plan.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const BLOB = { digest: `sha256:${'b'.repeat(64)}`, size: 9, mediaType: 'application/octet-stream' };
const facts = (extra: Partial<ImageFacts>): ImageFacts => ({
  name: 'keystone',
  sourceRepository: 'demo/keystone',
  targetRepository: 'site/keystone',
  digest: DIGEST,
  tags: ['2025.1', '2025.1-p5'],
  tagsAtTarget: { '2025.1': DIGEST, '2025.1-p5': DIGEST },
  ...extra,
});
const plan = (image: ImageFacts, present: string[] = []) =>
  planSync({
    source: { registry: 'a', namespace: 'demo' },
    target: { registry: 'b', namespace: 'site' },
    release: '2025.1-p5',
    images: [image],
    presentAtTarget: new Set(present),
    basesAtTarget: new Set(),
    deltas: false,
    now: 't0',
  });

describe('planSync: what the site cannot read', () => {
  it('an unreadable tag is written again, said why', () => {
    const p = plan(
      facts({
        tagsAtTarget: { '2025.1': null, '2025.1-p5': DIGEST },
        unreadableTags: ['2025.1'],
        manifestPresent: true,
      }),
    );
    expect(p.images[0]).toMatchObject({ action: 'tag', tagsToWrite: ['2025.1'] });
    expect(p.images[0]!.reasons).toEqual([
      'tag 2025.1 is unreadable at the site (it answered 500): written again',
    ]);
  });

  it('an unreadable manifest is copied again, said why; a missing one keeps its own reason', () => {
    const missing = {
      tagsAtTarget: { '2025.1': null, '2025.1-p5': null },
      manifestPresent: false,
      blobs: [BLOB],
    };
    const unreadable = plan(facts({ ...missing, manifestUnreadable: true }), [BLOB.digest]);
    expect(unreadable.images[0]!.action).toBe('copy');
    expect(unreadable.images[0]!.reasons[0]).toBe(
      'unreadable at the site (it answered 500 for the manifest): written again: 1 blob(s) there already, 0 from deltas, 0 whole',
    );
    expect(plan(facts(missing)).images[0]!.reasons[0]).toBe(
      'not at the site: 0 blob(s) there already, 0 from deltas, 1 whole',
    );
  });
});
