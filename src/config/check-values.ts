// Checks the schema cannot express: the registry grammar (shared with the registry client),
// external base references, literal tags, retention regexes (RE2, as the retention engine
// compiles them) and durations. Pure: no filesystem, no network.
import { type Diagnostic, error, warning } from '../errors.js';
import { compileRe2 } from '../re2.js';
import { SCOPE_MARKER_REPOSITORY } from '../registry/arbor-repositories.js';
import {
  InvalidReferenceError,
  parseReference,
  registryProblem,
  repositoryProblem,
  tagProblem,
} from '../registry/reference.js';
import { durationProblem } from './duration.js';
import type { Config, ImageConfig, RetentionRule } from './model.js';
import { NOTHING_REJECTED, type Rejected } from './rejected.js';
import { repositoryOf } from './repository.js';
import type { DataPath } from './source.js';

/** distribution/reference's limit on a whole name, registry included. */
const NAME_TOTAL_LENGTH_MAX = 255;

/**
 * Problems in values the schema accepted. Nodes in `rejected` were reported by the schema and
 * are not checked again; a check that needs one of them stays silent.
 */
export function checkValues(config: Config, rejected: Rejected = NOTHING_REJECTED): Diagnostic[] {
  return [
    ...checkRegistry(config, rejected),
    ...checkReleases(config, rejected),
    ...checkTags(config, rejected),
    ...checkImages(config, rejected),
    ...checkRetention(config, rejected),
    ...checkPromote(config, rejected),
  ];
}

function checkRegistry(config: Config, rejected: Rejected): Diagnostic[] {
  const problems: Diagnostic[] = [];
  const urlProblem = rejected.at(['registry', 'url']) ? null : registryProblem(config.registry.url);
  if (urlProblem) {
    problems.push(
      error(`invalid registry "${config.registry.url}": ${urlProblem}`, {
        loc: config.locate(['registry', 'url']),
      }),
    );
  }
  const { namespace } = config.registry;
  const namespaceProblem =
    namespace === '' || rejected.at(['registry', 'namespace']) ? null : repositoryProblem(namespace);
  if (namespaceProblem) {
    problems.push(
      error(`invalid namespace "${namespace}": ${namespaceProblem}`, {
        loc: config.locate(['registry', 'namespace']),
      }),
    );
  }
  return problems;
}

/**
 * The records' repository is a path under the namespace like an image's (`..` would reach another
 * repository), never retention's marker repository; an image named like it is reported at the image.
 */
function checkReleases(config: Config, rejected: Rejected): Diagnostic[] {
  const { repository } = config.releases;
  if (rejected.at(['releases', 'repository'])) return [];
  const loc = config.locate(['releases', 'repository']);
  const problem = repositoryProblem(repository);
  if (problem) return [error(`invalid releases.repository "${repository}": ${problem}`, { loc })];
  if (repository === SCOPE_MARKER_REPOSITORY)
    return [
      error(`releases.repository "${repository}" is the repository of retention's deletion markers`, { loc }),
    ];
  return [];
}

function checkTags(config: Config, rejected: Rejected): Diagnostic[] {
  return literalTagProblems(config.tags, ['tags'], config, rejected);
}

function checkImages(config: Config, rejected: Rejected): Diagnostic[] {
  const problems: Diagnostic[] = [];
  // The length of a repository name is known only when the registry's parts are.
  const registryKnown = !rejected.at(['registry', 'url']) && !rejected.at(['registry', 'namespace']);
  const own = new Map([
    [config.releases.repository, `arbor's release records (releases.repository)`],
    [SCOPE_MARKER_REPOSITORY, "retention's deletion markers"],
  ]);
  for (const image of config.images) {
    const ownUse = own.get(image.name);
    if (ownUse)
      problems.push(
        error(
          `named like the repository of ${ownUse}: each would overwrite the other's tags; rename the image${image.name === config.releases.repository ? ' or set releases.repository' : ''}`,
          { loc: image.loc, image: image.name },
        ),
      );
    const repository = repositoryOf(config, image.name);
    if (registryKnown && repository.length > NAME_TOTAL_LENGTH_MAX) {
      problems.push(
        error(
          `repository ${repository} is ${repository.length} characters long (at most ${NAME_TOTAL_LENGTH_MAX})`,
          {
            loc: image.loc,
            image: image.name,
          },
        ),
      );
    }
    const fromRejected = rejected.at(['images', image.name, 'from']);
    if (image.from !== undefined && image.from !== 'scratch' && !fromRejected)
      problems.push(...checkFrom(config, image));
    // arbor's own labels (the fingerprint, the inputs) are set by arbor: one written here would be
    // overwritten, silently, or worse, trusted.
    for (const label of Object.keys(image.labels))
      if (label.startsWith('org.arbor.') && !rejected.at(['images', image.name, 'labels', label]))
        problems.push(
          error(`label ${label}: org.arbor.* labels are arbor's own (it sets them on every image)`, {
            loc: config.locate(['images', image.name, 'labels', label]),
            image: image.name,
          }),
        );
    if (image.tags) {
      problems.push(
        ...literalTagProblems(image.tags, ['images', image.name, 'tags'], config, rejected, image.name),
      );
    }
    // Known without building: apply would fail this image after building its ancestors.
    if (
      image.platforms.length > 1 &&
      config.builder.name !== 'buildx' &&
      !rejected.at(['images', image.name, 'platforms'])
    )
      problems.push(
        error(
          `builder ${config.builder.name} builds one platform at a time, but platforms are ${image.platforms.join(', ')}; use the buildx builder for multi-platform images`,
          { loc: config.locate(['images', image.name, 'platforms']), image: image.name },
        ),
      );
  }
  return problems;
}

function checkFrom(config: Config, image: ImageConfig): Diagnostic[] {
  try {
    parseReference(image.from!);
    return [];
  } catch (e) {
    if (!(e instanceof InvalidReferenceError)) throw e;
    return [
      error(`from: ${e.message}`, { loc: config.locate(['images', image.name, 'from']), image: image.name }),
    ];
  }
}

/** A tag without template syntax is already final; check it now rather than at plan time. */
function literalTagProblems(
  tags: string[],
  at: DataPath,
  config: Config,
  rejected: Rejected,
  image?: string,
): Diagnostic[] {
  const problems: Diagnostic[] = [];
  tags.forEach((tag, index) => {
    if (tag.includes('{') || rejected.at([...at, index])) return;
    const problem = tagProblem(tag);
    if (problem)
      problems.push(
        error(`invalid tag "${tag}": ${problem}`, {
          loc: config.locate([...at, index]),
          ...(image ? { image } : {}),
        }),
      );
  });
  return problems;
}

function checkRetention(config: Config, rejected: Rejected): Diagnostic[] {
  return config.retention.flatMap((rule) => checkRule(config, rule, rejected, ['retention', rule.index]));
}

/** Promotion targets: their registries, tag regexes, names used once, and their retention rules. */
function checkPromote(config: Config, rejected: Rejected): Diagnostic[] {
  const problems: Diagnostic[] = [];
  const seen = new Set<string>();
  for (const target of config.promote) {
    const base = ['promote', target.index] as const;
    const at = (...path: Array<string | number>) => config.locate([...base, ...path]);
    const fine = (...path: Array<string | number>) => !rejected.at([...base, ...path]);
    if (seen.has(target.name) && fine('name'))
      problems.push(error(`promote target "${target.name}" is named twice`, { loc: at('name') }));
    seen.add(target.name);
    const urlProblem = fine('registry', 'url') ? registryProblem(target.registry.url) : null;
    if (urlProblem)
      problems.push(
        error(`invalid registry "${target.registry.url}": ${urlProblem}`, { loc: at('registry', 'url') }),
      );
    const namespace = target.registry.namespace;
    const namespaceProblem =
      namespace !== '' && fine('registry', 'namespace') ? repositoryProblem(namespace) : null;
    if (namespaceProblem)
      problems.push(
        error(`invalid namespace "${namespace}": ${namespaceProblem}`, { loc: at('registry', 'namespace') }),
      );
    for (const [key, patterns] of [
      ['tags', target.tags],
      ['immutable_tags', target.immutableTags],
    ] as const) {
      patterns.forEach((pattern, index) => {
        const problem = fine(key, index) ? regexProblem(pattern) : null;
        if (problem)
          problems.push(error(`invalid regex "${pattern}" in ${key}: ${problem}`, { loc: at(key, index) }));
      });
    }
    const requireTag = target.gate?.requireTag;
    const gateProblem =
      requireTag !== undefined && fine('gate', 'require_tag') ? regexProblem(requireTag) : null;
    if (gateProblem)
      problems.push(
        error(`invalid regex "${requireTag}" in gate.require_tag: ${gateProblem}`, {
          loc: at('gate', 'require_tag'),
        }),
      );
    if (target.sign && !config.signing?.gpg && fine('sign'))
      problems.push(
        error(`promote target "${target.name}" signs its tags, but images.yaml has no signing.gpg key`, {
          loc: at('sign'),
        }),
      );
    for (const rule of target.retention)
      problems.push(...checkRule(config, rule, rejected, [...base, 'retention', rule.index]));
  }
  return problems;
}

function checkRule(config: Config, rule: RetentionRule, rejected: Rejected, base: DataPath): Diagnostic[] {
  const problems: Diagnostic[] = [];
  const at = (...path: Array<string | number>) => config.locate([...base, ...path]);
  const fine = (...path: Array<string | number>) => !rejected.at([...base, ...path]);
  // The warnings below judge the rule as a whole; while part of it is rejected, they could be wrong.
  const whole = !rejected.within(base);
  rule.keepTags.forEach((pattern, index) => {
    const problem = fine('keep_tags', index) ? regexProblem(pattern) : null;
    if (problem)
      problems.push(
        error(`invalid regex "${pattern}" in keep_tags: ${problem}`, { loc: at('keep_tags', index) }),
      );
  });
  (rule.extraRepositories ?? []).forEach((name, index) => {
    // A glob is matched against the registry's catalog at plan time; a plain name must be a repository path.
    const problem =
      /[*?[\]{}!]/.test(name) || !fine('extra_repositories', index) ? null : repositoryProblem(name);
    if (problem)
      problems.push(
        error(`invalid repository "${name}" in extra_repositories: ${problem}`, {
          loc: at('extra_repositories', index),
        }),
      );
  });
  (rule.expireTags ?? []).forEach((pattern, index) => {
    const problem = fine('expire_tags', index) ? regexProblem(pattern) : null;
    if (problem)
      problems.push(
        error(`invalid regex "${pattern}" in expire_tags: ${problem}`, { loc: at('expire_tags', index) }),
      );
  });
  if (rule.tagPattern !== undefined && fine('tag_pattern')) {
    const problem = regexProblem(rule.tagPattern);
    if (problem) {
      problems.push(
        error(`invalid regex "${rule.tagPattern}" in tag_pattern: ${problem}`, { loc: at('tag_pattern') }),
      );
    } else if (compileRe2(rule.tagPattern).groupCount() < 1) {
      problems.push(
        error(`tag_pattern "${rule.tagPattern}" needs a capture group: its value orders the versions`, {
          loc: at('tag_pattern'),
        }),
      );
    }
    if (rule.order !== 'tag-pattern' && whole) {
      problems.push(
        warning('tag_pattern is used only with order: tag-pattern; it is ignored here', {
          loc: at('tag_pattern'),
        }),
      );
    }
  }
  if (rule.keepNewerThan !== undefined && fine('keep_newer_than')) {
    const problem = durationProblem(rule.keepNewerThan);
    if (problem)
      problems.push(
        error(`keep_newer_than "${rule.keepNewerThan}": ${problem}`, { loc: at('keep_newer_than') }),
      );
  }
  const keepsSomething =
    rule.keepLast !== undefined || rule.keepTags.length > 0 || rule.keepNewerThan !== undefined;
  if (!keepsSomething && !rule.allowEmpty && whole) {
    problems.push(
      warning(
        'this rule keeps nothing: add keep_last, keep_tags or keep_newer_than (or allow_empty: true if every tag may go)',
        { loc: at() },
      ),
    );
  }
  return problems;
}

/** Regexes are compiled with RE2 (linear time, no backtracking), as the retention engine does. */
export function regexProblem(pattern: string): string | null {
  try {
    compileRe2(pattern);
  } catch (e) {
    return (e as Error).message.replace(/^error parsing regexp: /, '');
  }
  return impossibleStart(pattern);
}

/**
 * Tag patterns match from a tag's first character (retention/patterns.ts), and a tag starts with
 * a letter, a digit or `_`: a pattern opening with another literal (`-p\d+$`, meant as "ends in
 * -p<n>") matches nothing, and an immutable_tags or keep_tags entry like it protects nothing.
 */
function impossibleStart(pattern: string): string | null {
  const body = pattern.replace(/^\^/, '');
  const literal = body.startsWith('\\')
    ? /^\\([^A-Za-z0-9_])/.exec(body)?.[1]
    : /^[^A-Za-z0-9_\\.[(^$|*+?{]/.exec(body)?.[0];
  if (literal === undefined) return null;
  return (
    `it can never match: patterns match from a tag's first character, and no tag starts with "${literal}"` +
    ` (for tags that merely contain it, write ".*${body}")`
  );
}
