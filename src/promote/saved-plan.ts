// A promotion plan saved by `arbor promote plan --out`, read back for `arbor promote apply FILE`.
// Pure: the text and a fresh plan in, a plan or the differences out. The file is the user's (it
// may be edited, cut or from another version), so its shape is checked before anything trusts
// it: a plan naming no target must not be read as "every target".
import { ArborError } from '../errors.js';
import {
  PROMOTE_PLAN_FORMAT_VERSION,
  type PromoteImage,
  type PromotePlan,
  type TargetPlan,
} from './model.js';

const ACTIONS = new Set(['copy', 'tag', 'none']);

export function parseSavedPromotePlan(text: string, file: string): PromotePlan {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ArborError(`${file}: not a promotion plan (${(e as Error).message})`);
  }
  const problem = shapeProblem(value);
  if (problem)
    throw new ArborError(`${file}: not a promotion plan saved by arbor promote plan --out (${problem})`);
  return value as PromotePlan;
}

function shapeProblem(value: unknown): string | undefined {
  const plan = value as Partial<PromotePlan> | null;
  if (typeof plan !== 'object' || plan === null || plan.kind !== 'promote') return 'kind is not "promote"';
  if (plan.formatVersion !== PROMOTE_PLAN_FORMAT_VERSION)
    return `format version ${JSON.stringify(plan.formatVersion)}, this arbor reads ${PROMOTE_PLAN_FORMAT_VERSION}`;
  const release = plan.release as Partial<PromotePlan['release']> | undefined;
  if (typeof release?.name !== 'string' || typeof release.digest !== 'string')
    return 'no release name and digest';
  if (!Array.isArray(plan.targets) || plan.targets.length === 0) return 'it names no target';
  const names = new Set<string>();
  for (const [i, target] of (plan.targets as unknown[]).entries()) {
    const problem = targetProblem(target as Partial<TargetPlan> | null);
    if (problem) return `targets[${i}]: ${problem}`;
    const name = (target as TargetPlan).target;
    if (names.has(name)) return `target ${name} appears twice`;
    names.add(name);
  }
  return undefined;
}

function targetProblem(target: Partial<TargetPlan> | null): string | undefined {
  if (typeof target !== 'object' || target === null || typeof target.target !== 'string')
    return 'no target name';
  if (!Array.isArray(target.images)) return 'no images';
  if (typeof target.observed !== 'object' || target.observed === null) return 'no observed tags';
  for (const [i, image] of (target.images as unknown[]).entries()) {
    const { name, digest, action, tagsToWrite } = (image ?? {}) as Partial<PromoteImage>;
    if (
      typeof name !== 'string' ||
      typeof digest !== 'string' ||
      !ACTIONS.has(action as string) ||
      !Array.isArray(tagsToWrite)
    )
      return `images[${i}] lacks its name, digest, action or tags`;
  }
  return undefined;
}

/** At most this many differences are named; the rest are counted. */
const SHOWN = 12;

/**
 * What differs between the saved plan and planning again now, one line each, naming the target,
 * image or tag and what it was then and is now. Empty: the saved plan may be applied.
 */
export function staleDifferences(saved: PromotePlan, fresh: PromotePlan): string[] {
  const found: string[] = [];
  if (saved.release.digest !== fresh.release.digest)
    found.push(
      `release ${saved.release.name} now names another record (${short(fresh.release.digest)}, was ${short(saved.release.digest)})`,
    );
  const freshTargets = new Map(fresh.targets.map((t) => [t.target, t]));
  for (const then of saved.targets) {
    const now = freshTargets.get(then.target);
    if (!now) found.push(`target ${then.target} is not planned any more`);
    else found.push(...targetDifferences(then, now));
  }
  const savedNames = new Set(saved.targets.map((t) => t.target));
  for (const now of fresh.targets)
    if (!savedNames.has(now.target))
      found.push(`target ${now.target} is planned now but not in the saved plan`);
  return found.length > SHOWN ? [...found.slice(0, SHOWN), `… and ${found.length - SHOWN} more`] : found;
}

function targetDifferences(then: TargetPlan, now: TargetPlan): string[] {
  const at = `target ${then.target}`;
  const found: string[] = [];
  const nowImages = new Map(now.images.map((i) => [i.name, i]));
  for (const image of then.images) {
    const current = nowImages.get(image.name);
    if (!current) {
      found.push(`${at}: image ${image.name} is not in the plan any more`);
      continue;
    }
    if (current.digest !== image.digest)
      found.push(`${at}: image ${image.name} is now ${short(current.digest)} (was ${short(image.digest)})`);
    else if (current.action !== image.action)
      found.push(`${at}: image ${image.name}: its action is now ${current.action} (was ${image.action})`);
    else if (current.tagsToWrite.join(' ') !== image.tagsToWrite.join(' '))
      found.push(
        `${at}: image ${image.name} now writes ${list(current.tagsToWrite)} (was ${list(image.tagsToWrite)})`,
      );
  }
  const thenNames = new Set(then.images.map((i) => i.name));
  for (const image of now.images)
    if (!thenNames.has(image.name)) found.push(`${at}: image ${image.name} is new in the plan`);
  for (const key of new Set([...Object.keys(then.observed), ...Object.keys(now.observed)])) {
    const before = then.observed[key];
    const after = now.observed[key];
    if (before !== after) found.push(`${at}: ${key} now ${named(after)} (was ${named(before)})`);
  }
  const deletions = (t: TargetPlan) =>
    new Set((t.retention ?? []).map((d) => `${d.repository}@${d.digest}${d.tag ? `:${d.tag}` : ''}`));
  const [deletedThen, deletedNow] = [deletions(then), deletions(now)];
  for (const d of deletedNow)
    if (!deletedThen.has(d)) found.push(`${at}: retention would now also delete ${d}`);
  for (const d of deletedThen)
    if (!deletedNow.has(d)) found.push(`${at}: retention would no longer delete ${d}`);
  const unreadable = (t: TargetPlan) => [...(t.unreadable ?? [])].sort().join(' ');
  if (unreadable(then) !== unreadable(now))
    found.push(`${at}: the tags it cannot read changed (${list(now.unreadable ?? [])})`);
  return found;
}

const short = (digest: string) => digest.slice(0, 19);
const list = (tags: readonly string[]) => (tags.length > 0 ? tags.join(', ') : 'no tag');
const named = (digest: string | null | undefined) =>
  digest === undefined ? 'not read' : digest === null ? 'absent' : `names ${short(digest)}`;
