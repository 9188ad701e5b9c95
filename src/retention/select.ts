// Which repositories each retention rule selects. `repositories` are globs over the tree's image
// names; `extra_repositories` name repositories outside the tree (old releases, removed images):
// a plain registry path, or a glob matched against the registry's catalog. Pure: the catalog is
// passed in by the caller.
import picomatch from 'picomatch';
import type { Config, RetentionRule } from '../config/model.js';
import { repositoryPath } from '../config/repository.js';
import { isScopeMarkerRepository } from '../registry/deletion-guard.js';

/** Repository path in the registry → indexes of the rules selecting it, in rule order. */
export type Selections = Map<string, number[]>;

export function isGlob(pattern: string): boolean {
  return picomatch.scan(pattern).isGlob;
}

/** True when some rule has an extra_repositories glob, i.e. the catalog must be read. */
export function needsCatalog(rules: readonly RetentionRule[]): boolean {
  return rules.some((r) => (r.extraRepositories ?? []).some(isGlob));
}

export function selectRepositories(
  config: Pick<Config, 'registry' | 'images'>,
  rules: readonly RetentionRule[],
  catalog: readonly string[] = [],
): Selections {
  const selections: Selections = new Map();
  const add = (path: string, rule: number) => {
    const list = selections.get(path);
    if (!list) selections.set(path, [rule]);
    else if (!list.includes(rule)) list.push(rule);
  };
  for (const rule of rules) {
    if (rule.repositories.length > 0) {
      const matches = picomatch(rule.repositories);
      for (const image of config.images)
        if (matches(image.name)) add(repositoryPath(config, image.name), rule.index);
    }
    for (const extra of rule.extraRepositories ?? []) {
      if (!isGlob(extra)) add(extra, rule.index);
      else {
        const matches = picomatch(extra);
        // Retention's own scope markers are never a rule's to judge.
        for (const path of catalog)
          if (matches(path) && !isScopeMarkerRepository(path)) add(path, rule.index);
      }
    }
  }
  for (const list of selections.values()) list.sort((a, b) => a - b);
  return selections;
}

/**
 * `--repositories GLOB…`: keep only repositories whose path (`openstack/keystone`) or last
 * segment (`keystone`, the image name) matches one of the globs.
 */
export function restrictSelections(selections: Selections, globs: readonly string[] | undefined): Selections {
  if (!globs || globs.length === 0) return selections;
  const matches = picomatch([...globs]);
  return new Map(
    [...selections].filter(([path]) => matches(path) || matches(path.slice(path.lastIndexOf('/') + 1))),
  );
}
