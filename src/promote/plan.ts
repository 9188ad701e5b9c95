// The pure half of promotion: which tags a target publishes, and what each image needs there,
// from the release record and what the target holds. No registry, no process: tested with values.
import type { PromoteTarget } from '../config/model.js';
import type { PlannedDeletion } from '../plan/model.js';
import { type ReleaseImage, type ReleaseRecord, recordIn, repositoryIn } from '../release/record.js';
import { firstMatch } from '../retention/patterns.js';
import type { PromoteImage, PullBudget, SourceBudget, TargetPlan } from './model.js';

/** What the target holds for one image, as observe.ts read it. */
export interface ImageAtTarget {
  /** Digest each selected tag names there (null: the tag is not there). */
  tags: Record<string, string | null>;
  /** The release's manifest is in the target repository (undefined: not asked, all tags were on it). */
  manifestPresent?: boolean;
  /** Blobs of the image the target repository lacks (only asked when the manifest is missing). */
  missing?: Array<{ digest: string; size: number }>;
  /** The release's manifest is gone from the source (deleted since the release was recorded). */
  missingAtSource?: boolean;
  /** With missingAtSource: the child of the release's index that is gone (the index is there). */
  missingChild?: string;
  /**
   * The target answered an error (5xx) for the manifest by digest: it is written again, and read
   * back, like a missing one (a file a crash left empty in the registry's storage).
   */
  manifestUnreadable?: boolean;
  /**
   * Tags the target answered 500 for (a link a crash left empty): written again. What they named
   * before cannot be known; their `tags` entry is null.
   */
  unreadableTags?: string[];
}

/** The release's tags this target publishes: those matching one of its `tags` regexes (all without any). */
export function selectTags(target: Pick<PromoteTarget, 'tags'>, tags: readonly string[]): string[] {
  return target.tags.length === 0 ? [...tags] : tags.filter((t) => firstMatch(target.tags, t) !== undefined);
}

export function targetRepository(
  target: Pick<PromoteTarget, 'registry'>,
  image: Pick<ReleaseImage, 'name'>,
): string {
  return repositoryIn(target.registry.namespace, image.name);
}

/**
 * The release as a target holds it once promoted: the same digests, the target's registry,
 * repositories and published tags, the images with none left out. The record a promotion writes
 * there, so `arbor releases` can tell it from another record under the same release name.
 */
export function recordAtTarget(
  record: ReleaseRecord,
  target: Pick<PromoteTarget, 'registry' | 'tags'>,
): ReleaseRecord {
  const published = record.images
    .map((image) => ({ ...image, tags: selectTags(target, image.tags) }))
    .filter((image) => image.tags.length > 0);
  return recordIn({ ...record, images: published }, target.registry.url, target.registry.namespace);
}

export interface TargetPlanInput {
  target: PromoteTarget;
  images: readonly ReleaseImage[];
  /** By image name. */
  observed: ReadonlyMap<string, ImageAtTarget>;
  gate?: { passed: boolean; detail: string };
  /** Problems found before planning (images of the release missing at the source, unsigned images…). */
  sourceProblems?: readonly string[];
  rateLimit?: Omit<PullBudget, 'needed'>;
  /** Manifest GETs the apply would send to the target (referrers indexes to update). */
  manifestGetsNeeded?: number;
  /** Whether the target holds the release's record (absent: a promotion cut short after its flip). */
  recordPresent?: boolean;
  /** The target holds another record under the release's name (written over by the apply). */
  recordOther?: boolean;
  /**
   * `repository:tag` → digest, for the tags an unfinished earlier run of this release's promotion
   * to this target was flipping (its journal entry). An immutable tag it left unreadable is its
   * own unfinished write, written again; any other unreadable immutable tag is refused.
   */
  resuming?: ReadonlyMap<string, string>;
}

export function planTarget(input: TargetPlanInput): TargetPlan {
  const { target } = input;
  const problems: string[] = [...(input.sourceProblems ?? [])];
  const observedTags: Record<string, string | null> = {};
  const unreadableTags: string[] = [];
  // Blobs shared by several images count once: the engine sends each once (others mount it).
  const missingBlobs = new Map<string, number>();
  const images = input.images.map((image): PromoteImage => {
    const repository = targetRepository(target, image);
    const tags = selectTags(target, image.tags);
    const there = input.observed.get(image.name) ?? { tags: {} };
    const base = {
      name: image.name,
      sourceRepository: image.repository,
      targetRepository: repository,
      digest: image.digest,
      mediaType: image.mediaType,
      size: image.size,
      tags,
      blobsMissing: 0,
      bytesMissing: 0,
    };
    if (tags.length === 0)
      return {
        ...base,
        action: 'none',
        reasons: ['no tag of this image is published here'],
        tagsToWrite: [],
      };
    const reasons: string[] = [];
    const tagsToWrite: string[] = [];
    for (const tag of tags) {
      const key = `${repository}:${tag}`;
      const now = there.tags[tag] ?? null;
      observedTags[key] = now;
      if (now === image.digest) continue;
      tagsToWrite.push(tag);
      if (there.unreadableTags?.includes(tag)) {
        unreadableTags.push(key);
        const immutable = firstMatch(target.immutableTags, tag) !== undefined;
        if (!immutable || input.resuming?.get(key) === image.digest)
          reasons.push(`tag ${tag} is unreadable here (the registry answered 500 for it): written again`);
        else
          problems.push(
            `image ${image.name}: tag ${tag} is immutable at ${target.name} and unreadable there (the registry answered 500 for it, as for a link a crash left empty): whether writing it would move it cannot be told; repair or remove the tag at the registry, then run again`,
          );
      } else if (now === null) reasons.push(`tag ${tag} is new here`);
      else {
        reasons.push(`tag ${tag} moves here from ${now.slice(7, 19)}`);
        if (firstMatch(target.immutableTags, tag) !== undefined)
          problems.push(
            `image ${image.name}: tag ${tag} is immutable at ${target.name} and names ${now.slice(0, 19)}; the release has ${image.digest.slice(0, 19)}`,
          );
      }
    }
    if (there.missingAtSource)
      problems.push(
        there.missingChild
          ? `image ${image.name}: ${there.missingChild.slice(0, 19)}, a child of its index ${image.digest.slice(0, 19)}, is not at the source any more`
          : `image ${image.name}: ${image.digest.slice(0, 19)} is not at the source any more`,
      );
    if (there.manifestPresent === false) {
      const missing = there.missing ?? [];
      for (const blob of missing) missingBlobs.set(blob.digest, blob.size);
      const bytes = missing.reduce((n, b) => n + b.size, 0);
      return {
        ...base,
        action: 'copy',
        reasons: [
          there.manifestUnreadable
            ? `unreadable at ${target.name} (it answered an error for the manifest): written again, ${missing.length} blob(s), ${bytes} bytes missing in its repository`
            : `not at ${target.name}: ${missing.length} blob(s), ${bytes} bytes missing in its repository`,
          ...reasons,
        ],
        tagsToWrite,
        blobsMissing: missing.length,
        bytesMissing: bytes,
      };
    }
    if (tagsToWrite.length > 0) return { ...base, action: 'tag', reasons, tagsToWrite };
    return { ...base, action: 'none', reasons: [`already at ${target.name}`], tagsToWrite: [] };
  });
  if (input.gate && !input.gate.passed) problems.push(`gate: ${input.gate.detail}`);
  let budget: PullBudget | undefined;
  if (input.rateLimit) {
    budget = { ...input.rateLimit, needed: input.manifestGetsNeeded ?? 0 };
    const short = budgetProblem(budget, target.name);
    if (short) problems.push(short);
  }
  const count = (a: PromoteImage['action']) => images.filter((i) => i.action === a).length;
  const publishesNothing = images.length > 0 && images.every((i) => i.tags.length === 0);
  return {
    target: target.name,
    registry: target.registry.url,
    namespace: target.registry.namespace,
    images,
    problems,
    ...(input.gate ? { gate: input.gate } : {}),
    ...(budget ? { budget } : {}),
    observed: observedTags,
    ...(unreadableTags.length > 0 ? { unreadable: unreadableTags } : {}),
    ...(publishesNothing
      ? { publishesNothing: true }
      : input.recordPresent === false
        ? { recordMissing: true, ...(input.recordOther ? { recordOther: true } : {}) }
        : {}),
    summary: {
      copy: count('copy'),
      tag: count('tag'),
      none: count('none'),
      blobs: missingBlobs.size,
      bytes: [...missingBlobs.values()].reduce((n, size) => n + size, 0),
    },
  };
}

/**
 * The source's budget: `needed` manifest reads still to make there against what it announced.
 * Reads planning made are spent already; a registry refuses the rest once the budget is gone, so a
 * promotion that would run out stops before it copies or moves anything.
 */
export function planSourceBudget(
  registry: string,
  rateLimit: Omit<PullBudget, 'needed'>,
  needed: number,
): SourceBudget {
  const budget: PullBudget = { ...rateLimit, needed };
  const short = budgetProblem(budget, `the source ${registry}`);
  return { registry, budget, problems: short ? [short] : [] };
}

function budgetProblem(budget: PullBudget, where: string): string | undefined {
  if (budget.needed <= budget.remaining) return undefined;
  return `pull budget: the promotion needs ${budget.needed} manifest read(s) at ${where}, ${budget.remaining} remain${budget.windowSeconds ? ` in its ${budget.windowSeconds} s window` : ''}`;
}

/** The plan with the deletions its target's retention will make after the flip. */
export function withRetention(plan: TargetPlan, deletions: PlannedDeletion[]): TargetPlan {
  if (deletions.length === 0) return plan;
  return { ...plan, retention: deletions, summary: { ...plan.summary, delete: deletions.length } };
}

/** The release's tags at the target: never retention's candidates, before or after the flip. */
export function retentionProtects(plan: TargetPlan) {
  return plan.images.map((i) => ({ repository: i.targetRepository, tags: i.tags }));
}

/**
 * The plan with the referrers each image the target holds already lacks there (name → count): the
 * image stays as it is (its action and tags), the apply copies those artifacts.
 */
export function withMissingReferrers(plan: TargetPlan, missing: ReadonlyMap<string, number>): TargetPlan {
  if (missing.size === 0) return plan;
  return {
    ...plan,
    images: plan.images.map((image) => {
      const n = missing.get(image.name) ?? 0;
      if (n === 0 || image.action === 'copy') return image;
      return {
        ...image,
        referrersMissing: n,
        reasons: [
          ...image.reasons,
          `${n} artifact(s) referring to it (signature, SBOM, provenance) not here yet`,
        ],
      };
    }),
  };
}
