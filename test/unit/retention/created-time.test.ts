import { describe, expect, it } from 'vitest';
import { createdTime } from '../../../src/retention/observe.js';

const LABEL = 'org.opencontainers.image.created';

describe('createdTime (what keep_last ranks by)', () => {
  it("takes the build's label when a cached rebuild kept the first build's config time", () => {
    expect(
      createdTime({ created: '2026-12-02T03:39:35Z', labels: { [LABEL]: '2026-12-02T03:42:10Z' } }),
    ).toBe(Date.parse('2026-12-02T03:42:10Z'));
  });

  it('never makes an image older than its config says, and reads either alone', () => {
    expect(
      createdTime({ created: '2026-12-02T05:00:00Z', labels: { [LABEL]: '2026-12-01T00:00:00Z' } }),
    ).toBe(Date.parse('2026-12-02T05:00:00Z'));
    expect(createdTime({ labels: { [LABEL]: '2026-12-01T00:00:00Z' } })).toBe(
      Date.parse('2026-12-01T00:00:00Z'),
    );
    expect(createdTime({ created: 'not a time', labels: { [LABEL]: 'nor this' } })).toBeUndefined();
  });
});
