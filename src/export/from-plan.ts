// Plan → ExportImage[]: the plan's images with full references and their build details.
import { ArborError, error } from '../errors.js';
import type { Plan } from '../plan/model.js';
import type { ExportImage } from './model.js';

/**
 * With `requireBuildDetails` (bake builds from them), images the plan builds must carry build
 * details; a plan without them cannot say how to build, so it is an error naming every such
 * image. CI exports only name images (each job runs `arbor apply`), so they do without.
 */
export function exportImagesFromPlan(
  plan: Plan,
  options: { requireBuildDetails?: boolean } = {},
): ExportImage[] {
  const missing = options.requireBuildDetails
    ? plan.images.filter((i) => i.action === 'build' && !i.build)
    : [];
  if (missing.length > 0) {
    throw new ArborError(
      missing.map((i) =>
        error(
          'the plan has no build details (context, Dockerfile) for this image; save it again with `arbor plan --out`',
          { image: i.name },
        ),
      ),
    );
  }
  return plan.images.map((image) => {
    const tagNames = image.action === 'build' ? [image.fingerprintTag, ...image.tags] : image.tags;
    const build = image.build;
    return {
      name: image.name,
      parent: image.parent,
      action: image.action,
      repository: image.repository,
      tags: [...new Set(tagNames)].map((tag) => `${image.repository}:${tag}`),
      context: build?.context ?? null,
      dockerfile: build?.dockerfile ?? '',
      args: build?.args ?? {},
      labels: build?.labels ?? {},
      platforms: build?.platforms ?? [],
      parentRef: build?.parentRef ?? null,
    };
  });
}
