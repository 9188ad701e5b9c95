// What `arbor verify` and `arbor diff` look at: a list of image references: the tree's images at a
// tag here; a release record gives the same list, pinned by digest (cli/sign-targets.ts releaseTargets).
import type { Config } from '../config/model.js';
import { repositoryPath } from '../config/repository.js';
import { parseReference } from '../registry/reference.js';
import type { ImageTarget } from './verify.js';

/** Every image of the tree at `tag`. */
export function treeImagesAtTag(config: Config, tag: string): ImageTarget[] {
  return config.images.map((image) => ({
    name: image.name,
    reference: parseReference(`${config.registry.url}/${repositoryPath(config, image.name)}:${tag}`),
  }));
}
