// The retention decision, pure: given the rules, what the registry holds and what images.yaml
// still wants, which digests go, which tags go alone, and why everything else stays.
//
// Keep wins (Harbor's union of keeps, decided per artifact): a digest is deleted only when at
// least one rule selects its repository and no keep clause of any of those rules keeps it, and
// nothing protects it. Protected, whatever the rules: every tag images.yaml wants (release and
// fingerprint tags), digests pushed within the grace period or that a tag reached within it (as
// far as arbor saw: tag-hints.ts), children of any kept index.

import { parseDuration } from '../config/duration.js';
import type { RetentionRule } from '../config/model.js';
import { type Diagnostic, error, warning } from '../errors.js';
import type { PlannedDeletion } from '../plan/model.js';
import type { Artifact, KeptArtifact, RepositoryHistory } from './model.js';
import { captured, firstMatch } from './patterns.js';
import { compareNatural, compareSemver, parseSemver } from './versions.js';

export const DEFAULT_GRACE_PERIOD_MS = 3_600_000;

export interface RetentionInput {
  rules: readonly RetentionRule[];
  repositories: readonly RepositoryHistory[];
  /** Repository path → tags the current images.yaml wants there (tag templates and fingerprint tags). */
  protectedTags: ReadonlyMap<string, ReadonlySet<string>>;
  /** ms since epoch. */
  now: number;
  /** Digests pushed (or, when the registry does not say, created) less than this long ago stay. */
  gracePeriodMs?: number;
  /** Prefix of the repository names in the output (`127.0.0.1:5000/`); none by default. */
  repositoryPrefix?: string;
}

export interface RetentionOutcome {
  /** Digest deletions (tag null) and tag-only deletions (tag set), in repository order. */
  deletions: PlannedDeletion[];
  kept: KeptArtifact[];
  /** Refusals (errors) and warnings, with the rule's file:line:col. Any error: delete nothing. */
  diagnostics: Diagnostic[];
}

export function evaluateRetention(input: RetentionInput): RetentionOutcome {
  const grace = input.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS;
  const deletions: PlannedDeletion[] = [];
  const kept: KeptArtifact[] = [];
  const diagnostics: Diagnostic[] = [];
  const used = new Set<number>();
  const prefix = input.repositoryPrefix ?? '';

  for (const history of input.repositories) {
    const rules = history.rules.map((i) => input.rules[i]).filter((r): r is RetentionRule => r !== undefined);
    if (rules.length === 0) continue;
    // A rule that selects a repository is in use even while the repository holds nothing yet
    // (a new tree before its first apply); the warning is for rules whose globs match nothing.
    for (const r of rules) used.add(r.index);
    if (history.unreadableTags?.length) {
      // What those tags name is unknown: any digest of the repository may be one someone wants.
      diagnostics.push(
        warning(
          `${prefix}${history.repository}: nothing deleted there this run; the registry answered 500 for tag(s) ${history.unreadableTags.join(', ')} (as for a link a crash left empty), so what they name is unknown`,
        ),
      );
      continue;
    }
    const result = evaluateRepository(
      history,
      rules,
      input.protectedTags.get(history.repository),
      input.now,
      grace,
    );
    for (const d of result.deletions) deletions.push({ ...d, repository: prefix + d.repository });
    for (const k of result.kept) kept.push({ ...k, repository: prefix + k.repository });
    diagnostics.push(...result.diagnostics);
  }
  for (const rule of input.rules) {
    if (!used.has(rule.index))
      diagnostics.push(
        warning(`retention rule ${rule.index} selects no repository: it deletes nothing`, {
          loc: rule.loc,
        }),
      );
  }
  return { deletions, kept, diagnostics };
}

interface RepositoryResult {
  deletions: PlannedDeletion[];
  kept: KeptArtifact[];
  diagnostics: Diagnostic[];
}

function evaluateRepository(
  history: RepositoryHistory,
  rules: RetentionRule[],
  protectedTags: ReadonlySet<string> | undefined,
  now: number,
  grace: number,
): RepositoryResult {
  const artifacts = new Map(history.artifacts.map((a) => [a.digest, a]));
  const reasons = new Map<string, string[]>();
  const keep = (digest: string, reason: string) => {
    const list = reasons.get(digest);
    if (list) list.push(reason);
    else reasons.set(digest, [reason]);
  };
  const tagged = history.artifacts.filter((a) => a.tags.length > 0);

  for (const a of history.artifacts) {
    for (const tag of a.tags)
      if (protectedTags?.has(tag)) keep(a.digest, `tag ${tag} is wanted by images.yaml`);
    const pushed = a.pushedAt ?? a.created;
    if (pushed !== undefined && now - pushed < grace)
      keep(
        a.digest,
        `${a.pushedAt !== undefined ? 'pushed' : 'created'} within the grace period (${formatMs(grace)})`,
      );
    // A tag written onto an old image (a rollback, a promotion) is as recent as the write.
    for (const [tag, since] of Object.entries(a.tagsSeenSince ?? {}))
      if (now - since < grace)
        keep(
          a.digest,
          `tag ${tag} was written onto it recently (first seen there by arbor at ${new Date(since).toISOString()}, absent at its look before): kept for the grace period (${formatMs(grace)})`,
        );
  }
  for (const rule of rules) keepByRule(rule, history.artifacts, tagged, now, keep);
  for (const a of history.artifacts) {
    if (a.tags.length > 0) continue;
    const deleter = rules.find((r) => r.deleteUntagged);
    if (!deleter) keep(a.digest, 'untagged, and no rule for this repository sets delete_untagged');
  }
  // Children of a kept index stay with it (and their children, for nested indexes).
  let grew = true;
  while (grew) {
    grew = false;
    for (const a of history.artifacts) {
      if (!reasons.has(a.digest)) continue;
      for (const child of a.children) {
        if (!artifacts.has(child) || reasons.get(child)?.some((r) => r.startsWith('child of kept index')))
          continue;
        keep(child, `child of kept index ${short(a.digest)}`);
        grew = true;
      }
    }
  }

  // Oldest first, whatever order the registry listed them in: stable output, stable byte attribution.
  const ordered = [...history.artifacts].sort(
    (x, y) =>
      (x.created ?? Number.POSITIVE_INFINITY) - (y.created ?? Number.POSITIVE_INFINITY) ||
      (x.digest < y.digest ? -1 : x.digest > y.digest ? 1 : 0),
  );
  const deleted = ordered.filter((a) => !reasons.has(a.digest));
  const freed = bytesFreed(ordered, new Set(deleted.map((a) => a.digest)));
  const result: RepositoryResult = { deletions: [], kept: [], diagnostics: [] };
  for (const a of deleted) {
    const rule = a.tags.length > 0 ? rules[0]! : rules.find((r) => r.deleteUntagged)!;
    result.deletions.push({
      repository: history.repository,
      tag: null,
      tags: [...a.tags],
      digest: a.digest,
      rule: rule.index,
      bytesFreed: freed.get(a.digest) ?? 0,
      reason: a.tags.length > 0 ? expiryReason(rules) : untaggedReason(a, history.artifacts),
    });
  }
  for (const a of ordered) {
    const why = reasons.get(a.digest);
    if (!why) continue;
    result.kept.push({ repository: history.repository, digest: a.digest, tags: [...a.tags], reasons: why });
    result.deletions.push(...expiredTags(history.repository, a, rules, protectedTags));
  }

  if (tagged.length > 0 && tagged.every((a) => !reasons.has(a.digest))) {
    for (const rule of rules.filter((r) => !r.allowEmpty)) {
      result.diagnostics.push(
        error(
          `retention rule ${rule.index} would delete every tag of ${history.repository} (${tagged.reduce((n, a) => n + a.tags.length, 0)} tags): refused; set allow_empty: true if that is intended`,
          { loc: rule.loc },
        ),
      );
    }
  }
  return result;
}

type Keep = (digest: string, reason: string) => void;

function keepByRule(
  rule: RetentionRule,
  all: readonly Artifact[],
  tagged: Artifact[],
  now: number,
  keep: Keep,
): void {
  const name = `rule ${rule.index}`;
  for (const a of tagged) {
    for (const tag of a.tags) {
      const pattern = firstMatch(rule.keepTags, tag);
      if (pattern !== undefined)
        keep(a.digest, `${name} keep_tags: ${tag} matches ${JSON.stringify(pattern)}`);
    }
  }
  if (rule.keepNewerThan !== undefined) {
    const limit = parseDuration(rule.keepNewerThan);
    // Untagged manifests too: a recent one may be a push still in progress.
    for (const a of all) {
      if (a.created === undefined) keep(a.digest, `${name} keep_newer_than: creation time unknown`);
      else if (now - a.created < limit) keep(a.digest, `${name} keep_newer_than ${rule.keepNewerThan}`);
    }
  }
  if (rule.keepLast !== undefined) {
    const { ranked, unranked } = rank(rule, tagged);
    ranked.slice(0, rule.keepLast).forEach((a, i) => {
      keep(a.digest, `${name} keep_last ${rule.keepLast}: newest #${i + 1} by ${rule.order}`);
    });
    // Only creation times can be missing in a way that makes "newest" unknowable; keep those.
    if (rule.order === 'created')
      for (const a of unranked) keep(a.digest, `${name} keep_last: creation time unknown, cannot rank it`);
  }
}

/**
 * Newest first. `created`: by creation time; `semver`: by the highest semantic version among the
 * artifact's tags; `tag-pattern`: by the natural order of the capture group. Artifacts without
 * a creation time (created) or without a version tag (semver, tag-pattern) are not ranked.
 * Ties are broken by digest so the result never depends on listing order.
 */
export function rank(rule: RetentionRule, tagged: Artifact[]): { ranked: Artifact[]; unranked: Artifact[] } {
  const unranked: Artifact[] = [];
  if (rule.order === 'created') {
    const ranked = tagged.filter((a) => a.created !== undefined);
    for (const a of tagged) if (a.created === undefined) unranked.push(a);
    ranked.sort((x, y) => y.created! - x.created! || (x.digest < y.digest ? -1 : 1));
    return { ranked, unranked };
  }
  const entries: Array<[Artifact, unknown]> = [];
  for (const a of tagged) {
    const value = rule.order === 'semver' ? bestSemver(a.tags) : bestCapture(rule.tagPattern ?? '', a.tags);
    if (value === undefined) unranked.push(a);
    else entries.push([a, value]);
  }
  const cmp = rule.order === 'semver' ? compareSemver : compareNatural;
  entries.sort(
    ([a, x], [b, y]) => (cmp as (p: unknown, q: unknown) => number)(y, x) || (a.digest < b.digest ? -1 : 1),
  );
  return { ranked: entries.map(([a]) => a), unranked };
}

function bestSemver(tags: string[]) {
  let best: ReturnType<typeof parseSemver>;
  for (const tag of tags) {
    const v = parseSemver(tag);
    if (v && (!best || compareSemver(v, best) > 0)) best = v;
  }
  return best;
}

function bestCapture(pattern: string, tags: string[]): string | undefined {
  let best: string | undefined;
  for (const tag of tags) {
    const v = captured(pattern, tag);
    if (v !== undefined && (best === undefined || compareNatural(v, best) > 0)) best = v;
  }
  return best;
}

/**
 * Tag-only deletions: a tag of a kept digest goes alone when it matches an expire_tags pattern
 * of a rule selecting the repository, matches no keep_tags pattern of any such rule, is not
 * wanted by images.yaml, and at least one tag of the digest stays (a kept digest never loses
 * its last tag: it would become an untagged manifest nobody can name).
 */
function expiredTags(
  repository: string,
  artifact: Artifact,
  rules: RetentionRule[],
  protectedTags: ReadonlySet<string> | undefined,
): PlannedDeletion[] {
  const expired: Array<{ tag: string; rule: RetentionRule; pattern: string }> = [];
  for (const tag of artifact.tags) {
    if (protectedTags?.has(tag)) continue;
    if (rules.some((r) => firstMatch(r.keepTags, tag) !== undefined)) continue;
    for (const rule of rules) {
      const pattern = firstMatch(rule.expireTags ?? [], tag);
      if (pattern !== undefined) {
        expired.push({ tag, rule, pattern });
        break;
      }
    }
  }
  if (expired.length === 0 || expired.length === artifact.tags.length) return [];
  const remaining = artifact.tags.filter((t) => !expired.some((e) => e.tag === t));
  return expired.map(({ tag, rule, pattern }) => ({
    repository,
    tag,
    tags: [...artifact.tags],
    digest: artifact.digest,
    rule: rule.index,
    bytesFreed: 0,
    reason: `expire_tags: ${tag} matches ${JSON.stringify(pattern)}; the digest stays for ${remaining.join(', ')}`,
  }));
}

/**
 * Compressed bytes each deleted manifest frees: its blobs that no remaining manifest of the
 * repository references. A blob shared by several deleted manifests is counted once, on the
 * first of them, so the sum over deletions is the repository's total.
 */
export function bytesFreed(
  artifacts: readonly Artifact[],
  deleted: ReadonlySet<string>,
): Map<string, number> {
  const stillReferenced = new Set<string>();
  for (const a of artifacts)
    if (!deleted.has(a.digest)) for (const b of a.blobs) stillReferenced.add(b.digest);
  const counted = new Set<string>();
  const freed = new Map<string, number>();
  for (const a of artifacts) {
    if (!deleted.has(a.digest)) continue;
    let bytes = 0;
    for (const b of a.blobs) {
      if (stillReferenced.has(b.digest) || counted.has(b.digest)) continue;
      counted.add(b.digest);
      bytes += b.size;
    }
    freed.set(a.digest, bytes);
  }
  return freed;
}

function expiryReason(rules: RetentionRule[]): string {
  const clauses: string[] = [];
  for (const rule of rules) {
    const parts: string[] = [];
    if (rule.keepLast !== undefined) parts.push(`not among the newest ${rule.keepLast} by ${rule.order}`);
    if (rule.keepTags.length > 0) parts.push('no tag matches keep_tags');
    if (rule.keepNewerThan !== undefined) parts.push(`older than ${rule.keepNewerThan}`);
    if (parts.length === 0) parts.push('the rule keeps nothing (allow_empty)');
    clauses.push(`rule ${rule.index}: ${parts.join(', ')}`);
  }
  return clauses.join('; ');
}

function untaggedReason(artifact: Artifact, all: readonly Artifact[]): string {
  const parents = all.filter((p) => p.children.includes(artifact.digest)).map((p) => short(p.digest));
  return parents.length > 0
    ? `untagged child of deleted index ${parents.join(', ')} (delete_untagged)`
    : 'untagged (delete_untagged)';
}

function short(digest: string): string {
  return digest.length > 19 ? digest.slice(0, 19) : digest;
}

function formatMs(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
  ] as const)
    if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms / 1000}s`;
}
