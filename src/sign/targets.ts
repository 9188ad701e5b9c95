// What `arbor verify` and `arbor diff` look at: a list of image references. Today a "release" is
// a tag applied to every image of the tree (`--tag T`, `--release R`); when release records exist
// (src/release/), they produce the same list and nothing downstream changes.
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
