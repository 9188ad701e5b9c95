// Properties over random histories and rules: whatever the input, nothing kept or protected is
// ever deleted, a digest carrying a kept tag survives, children of kept indexes survive, and
// every artifact is decided exactly once.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RetentionRule } from '../../../src/config/model.js';
import { evaluateRetention } from '../../../src/retention/evaluate.js';
import type { Artifact } from '../../../src/retention/model.js';
import { tagMatches } from '../../../src/retention/patterns.js';
import { DAY, NOW, rule } from './rules.js';

const TAG_POOL = [
  'stable-1',
  'stable-2',
  'v1.0.0',
  'v1.2.0',
  'v2.0.0-rc.1',
  'pr-1',
  'pr-2',
  'latest',
  'fp-aa',
  'fp-bb',
  '2025.1-p3',
  '2025.1-p12',
  'nightly',
  'x',
];
const PATTERNS = ['^stable-', 'v\\d+', 'latest$', 'fp-', '2025\\.1-p'];

const historyArb = fc
  .record({
    tagOwners: fc.array(fc.option(fc.nat(11), { nil: undefined }), {
      minLength: TAG_POOL.length,
      maxLength: TAG_POOL.length,
    }),
    ages: fc.array(fc.option(fc.double({ min: 0, max: 400, noNaN: true }), { nil: undefined }), {
      minLength: 12,
      maxLength: 12,
    }),
    indexOf: fc.array(fc.option(fc.nat(11), { nil: undefined }), { minLength: 12, maxLength: 12 }),
  })
  .map(({ tagOwners, ages, indexOf }) => {
    const digests = ages.map((_, i) => `sha256:${String(i).padStart(64, '0')}`);
    const artifacts: Artifact[] = digests.map((digest, i) => ({
      digest,
      tags: TAG_POOL.filter((_, t) => tagOwners[t] === i),
      ...(ages[i] !== undefined ? { created: NOW - ages[i]! * DAY } : {}),
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      children: [],
      blobs: [
        { digest, size: 100 },
        { digest: `sha256:layer-${i % 5}`, size: 1000 + (i % 5) },
      ],
    }));
    // Some untagged artifacts become children of a tagged one (an index); no cycles: parent index < child index.
    indexOf.forEach((parent, child) => {
      if (parent === undefined || parent >= child) return;
      if (artifacts[child]!.tags.length > 0 || artifacts[parent]!.tags.length === 0) return;
      artifacts[parent]!.children.push(artifacts[child]!.digest);
    });
    return artifacts;
  });

const ruleArb = (index: number) =>
  fc
    .record({
      keepLast: fc.option(fc.nat(5), { nil: undefined }),
      order: fc.constantFrom('created', 'semver', 'tag-pattern') as fc.Arbitrary<RetentionRule['order']>,
      keepTags: fc.subarray(PATTERNS, { maxLength: 2 }),
      expireTags: fc.subarray(['^pr-', 'nightly', 'x'], { maxLength: 2 }),
      keepNewerThan: fc.option(fc.constantFrom('1d', '30d', '90d'), { nil: undefined }),
      deleteUntagged: fc.boolean(),
      allowEmpty: fc.boolean(),
    })
    .map(({ keepLast, keepNewerThan, order, ...rest }) =>
      rule(index, {
        ...rest,
        order,
        ...(order === 'tag-pattern' ? { tagPattern: '^2025\\.1-p(\\d+)$' } : {}),
        ...(keepLast !== undefined ? { keepLast } : {}),
        ...(keepNewerThan !== undefined ? { keepNewerThan } : {}),
      }),
    );

const inputArb = fc.record({
  artifacts: historyArb,
  rules: fc
    .integer({ min: 1, max: 3 })
    .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => ruleArb(i)))),
  protectedTags: fc.subarray(TAG_POOL, { maxLength: 3 }),
});

describe('retention properties', () => {
  it('never deletes what is kept, protected, kept by a tag, or a child of a kept index', () => {
    fc.assert(
      fc.property(inputArb, ({ artifacts, rules, protectedTags }) => {
        const outcome = evaluateRetention({
          rules,
          repositories: [{ repository: 'ns/app', rules: rules.map((r) => r.index), artifacts }],
          protectedTags: new Map([['ns/app', new Set(protectedTags)]]),
          now: NOW,
        });
        const deleted = new Set(outcome.deletions.filter((d) => d.tag === null).map((d) => d.digest));
        const kept = new Set(outcome.kept.map((k) => k.digest));
        // A partition: every artifact decided exactly once.
        for (const a of artifacts) expect(deleted.has(a.digest) !== kept.has(a.digest)).toBe(true);
        for (const a of artifacts) {
          if (!deleted.has(a.digest)) continue;
          for (const tag of a.tags) {
            expect(protectedTags).not.toContain(tag);
            for (const r of rules) for (const p of r.keepTags) expect(tagMatches(p, tag)).toBe(false);
          }
          // Within the grace period nothing goes.
          if (a.created !== undefined) expect(NOW - a.created).toBeGreaterThanOrEqual(3_600_000);
          // keep_newer_than: nothing newer is deleted.
          for (const r of rules) if (r.keepNewerThan !== undefined) expect(a.created).toBeDefined();
        }
        for (const a of artifacts)
          if (kept.has(a.digest)) for (const child of a.children) expect(deleted.has(child)).toBe(false);
        // Tag-only deletions: never a protected or keep-matching tag, never the last tag of a digest.
        const tagOnly = outcome.deletions.filter((d) => d.tag !== null);
        for (const d of tagOnly) {
          expect(kept.has(d.digest)).toBe(true);
          expect(protectedTags).not.toContain(d.tag);
          for (const r of rules) for (const p of r.keepTags) expect(tagMatches(p, d.tag!)).toBe(false);
          const gone = tagOnly.filter((t) => t.digest === d.digest).length;
          expect(d.tags.length - gone).toBeGreaterThan(0);
        }
        // Refusal: when every tag would go, some rule without allow_empty is named.
        const tagged = artifacts.filter((a) => a.tags.length > 0);
        const emptied = tagged.length > 0 && tagged.every((a) => deleted.has(a.digest));
        const refused = outcome.diagnostics.some((d) => d.severity === 'error');
        expect(refused).toBe(emptied && rules.some((r) => !r.allowEmpty));
        // Bytes freed add up to the blobs no survivor references.
        const survivors = new Set(
          artifacts.filter((a) => !deleted.has(a.digest)).flatMap((a) => a.blobs.map((b) => b.digest)),
        );
        const freed = new Map<string, number>();
        for (const a of artifacts)
          if (deleted.has(a.digest))
            for (const b of a.blobs) if (!survivors.has(b.digest)) freed.set(b.digest, b.size);
        expect(outcome.deletions.reduce((n, d) => n + d.bytesFreed, 0)).toBe(
          [...freed.values()].reduce((n, s) => n + s, 0),
        );
      }),
      { numRuns: 500 },
    );
  });

  it('is deterministic: the listing order of artifacts and tags does not change the decision', () => {
    fc.assert(
      fc.property(inputArb, fc.nat(), ({ artifacts, rules, protectedTags }, seed) => {
        const run = (list: Artifact[]) =>
          evaluateRetention({
            rules,
            repositories: [{ repository: 'ns/app', rules: rules.map((r) => r.index), artifacts: list }],
            protectedTags: new Map([['ns/app', new Set(protectedTags)]]),
            now: NOW,
          });
        const shuffled = [...artifacts].sort(
          (a, b) => ((a.digest.charCodeAt(70) ^ seed) % 7) - ((b.digest.charCodeAt(70) ^ seed) % 7),
        );
        const digests = (o: ReturnType<typeof run>) => o.deletions.map((d) => `${d.digest}:${d.tag}`).sort();
        expect(digests(run(shuffled))).toEqual(digests(run(artifacts)));
      }),
      { numRuns: 200 },
    );
  });
});
