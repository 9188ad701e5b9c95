// Building retention rules and histories for the pure tests, with a location like the loader's.
import type { RetentionRule } from '../../../src/config/model.js';
import type { Artifact } from '../../../src/retention/model.js';

export function rule(
  index: number,
  fields: Partial<Omit<RetentionRule, 'index' | 'loc'>> = {},
): RetentionRule {
  return {
    index,
    repositories: ['*'],
    order: 'created',
    keepTags: [],
    deleteUntagged: false,
    allowEmpty: false,
    ...fields,
    loc: { file: 'images.yaml', line: 20 + index * 5, col: 5 },
  };
}

export const DAY = 86_400_000;
export const NOW = Date.parse('2025-06-01T00:00:00Z');

let counter = 0;
export function artifact(tags: string[], daysAgo: number, fields: Partial<Artifact> = {}): Artifact {
  counter++;
  const digest = `sha256:${counter.toString(16).padStart(64, '0')}`;
  return {
    digest,
    tags,
    created: NOW - daysAgo * DAY,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    children: [],
    blobs: [
      { digest, size: 500 },
      { digest: `sha256:layer-${counter}`, size: 1000 },
    ],
    ...fields,
  };
}
