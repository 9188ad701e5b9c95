// Saved plans: `arbor plan --out plan.json` then `arbor apply plan.json`. A saved plan is only
// applied while it still describes the world: same config, same fingerprints, and every tag it
// read or will write still where the registry had it. Otherwise apply refuses and says why.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import pLimit from 'p-limit';
import { ArborError } from '../errors.js';
import type { RegistryClient } from '../registry/client.js';
import { writeFileAtomic } from '../write-atomic.js';
import { shortDigest } from './compute.js';
import type { DesiredState } from './desired.js';
import { PLAN_FORMAT_VERSION, type Plan } from './model.js';
import { renderJson } from './views/text.js';

/**
 * Saves the plan, and beside it (under the config root) the rendered Dockerfile of every image it
 * builds, at the path the plan names: plan.json plus .arbor/render/ is everything another build
 * system needs (`arbor export --format bake`).
 */
export async function savePlan(plan: Plan, path: string, desired: DesiredState): Promise<void> {
  await writeRenderedDockerfiles(plan, desired);
  await writeFileAtomic(path, renderJson(plan));
}

export async function writeRenderedDockerfiles(plan: Plan, desired: DesiredState): Promise<void> {
  for (const planned of plan.images) {
    if (planned.action !== 'build' || !planned.build) continue;
    const target = resolve(desired.config.root, planned.build.dockerfile);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, desired.images.get(planned.name)!.dockerfile);
  }
}

export async function loadPlan(path: string): Promise<Plan> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ArborError(`${path}: cannot read saved plan (${(e as NodeJS.ErrnoException).code ?? e})`);
  }
  let plan: Plan;
  try {
    plan = JSON.parse(text) as Plan;
  } catch (e) {
    throw new ArborError(`${path}: not a saved plan (invalid JSON: ${(e as Error).message})`);
  }
  if (typeof plan !== 'object' || plan === null || !Array.isArray(plan.images) || !plan.observed)
    throw new ArborError(`${path}: not a saved plan (missing images/observed)`);
  if (plan.formatVersion !== PLAN_FORMAT_VERSION)
    throw new ArborError(
      `${path}: plan format ${plan.formatVersion} is not supported by this arbor (format ${PLAN_FORMAT_VERSION}); plan again`,
    );
  return plan;
}

/** Every reason the saved plan no longer describes the world; empty when it may be applied. */
export async function staleness(
  plan: Plan,
  desired: DesiredState,
  client: RegistryClient,
): Promise<string[]> {
  const problems: string[] = [];
  if (plan.configDigest !== desired.config.configDigest)
    problems.push(`${desired.config.file}: config changed since the plan was made`);
  for (const image of plan.images) {
    const now = desired.images.get(image.name);
    if (!now) problems.push(`image ${image.name}: no longer in the config`);
    else if (now.fingerprint !== image.fingerprint)
      problems.push(
        `image ${image.name}: fingerprint changed since the plan (${image.fingerprintTag} → ${now.fingerprintTag})`,
      );
  }
  const limit = pLimit(16);
  await Promise.all(
    Object.entries(plan.observed).map(([ref, then]) =>
      limit(async () => {
        const colon = ref.lastIndexOf(':');
        const repository = ref.slice(0, colon);
        const tag = ref.slice(colon + 1);
        const path = repository.slice(repository.indexOf('/') + 1);
        const head = await client.headManifest(path, tag);
        const now = head?.digest ?? null;
        if (now !== then)
          problems.push(
            `${ref}: moved since the plan (${then ? shortDigest(then) : 'absent'} → ${now ? shortDigest(now) : 'absent'})`,
          );
      }),
    ),
  );
  return problems.sort();
}
