import { describe, expect, it } from 'vitest';
import type { Artifact, RepositoryHistory } from '../../../src/retention/model.js';
import { withTagMoves } from '../../../src/retention/tag-moves.js';

const artifact = (digest: string, tags: string[]): Artifact => ({
  digest,
  tags,
  created: 1,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  children: [],
  blobs: [{ digest, size: 10 }],
});
const history: RepositoryHistory = {
  repository: 'site/keystone',
  rules: [0],
  artifacts: [artifact('sha256:old', ['2025.1', '2025.1-p5']), artifact('sha256:older', ['2025.1-p4'])],
};

describe('withTagMoves (the target as a promotion leaves it)', () => {
  it('takes a moved tag off the digest that holds it and puts it on the one it will name', () => {
    const [after] = withTagMoves(
      [history],
      [{ repository: 'site/keystone', tag: '2025.1', digest: 'sha256:older' }],
      99,
    );
    expect(after!.artifacts.map((a) => [a.digest, a.tags])).toEqual([
      ['sha256:old', ['2025.1-p5']],
      ['sha256:older', ['2025.1', '2025.1-p4']],
    ]);
  });

  it('a manifest the repository does not hold yet appears, created now; other repositories are untouched', () => {
    const other: RepositoryHistory = { ...history, repository: 'site/nova' };
    const [after, untouched] = withTagMoves(
      [history, other],
      [
        { repository: 'site/keystone', tag: '2025.1', digest: 'sha256:new' },
        { repository: 'site/keystone', tag: '2025.1-p6', digest: 'sha256:new' },
      ],
      99,
    );
    expect(after!.artifacts.map((a) => [a.digest, a.tags])).toEqual([
      ['sha256:old', ['2025.1-p5']],
      ['sha256:older', ['2025.1-p4']],
      ['sha256:new', ['2025.1', '2025.1-p6']],
    ]);
    expect(after!.artifacts[2]).toMatchObject({ created: 99, blobs: [] });
    expect(untouched).toBe(other);
    expect(history.artifacts[0]!.tags).toEqual(['2025.1', '2025.1-p5']);
  });
});
