// A command's output path must not land on the tree it reads: `arbor plan --out images.yaml`
// replaced the config with plan JSON, and `arbor render --out images` wrote Dockerfiles into the
// build contexts (the next plan rebuilt every image for a file it never had).
import { relative, resolve } from 'node:path';
import type { Config } from '../config/model.js';
import { ArborError } from '../errors.js';

/** What of the tree `path` is, or lies inside (images.yaml, a build context, the templates); null if nothing. */
export function treePartAt(config: Config, path: string): string | null {
  const target = resolve(path);
  if (target === resolve(config.file)) return 'the images file itself';
  const inside = (dir: string) => {
    const rel = relative(dir, target);
    return rel === '' || (!rel.startsWith('..') && !rel.startsWith('/'));
  };
  if (inside(config.templatesDir))
    return `the templates directory (${relative(config.root, config.templatesDir) || '.'})`;
  for (const image of config.images)
    if (image.context && inside(resolve(config.root, image.context)))
      return `the build context of image ${image.name} (${image.context})`;
  return null;
}

/** Refuses, before anything is written, an output path that is part of the tree. */
export function refuseTreeOutput(config: Config, path: string, flag: string): void {
  const part = treePartAt(config, path);
  if (part) throw new ArborError(`${flag} ${path}: that is ${part}; write it somewhere else`);
}
