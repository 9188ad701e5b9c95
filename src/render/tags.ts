// Tag templates (`tags:` at the top level or per image) rendered with Nunjucks. They see
//   every entry of `variables` (also as `variables`)
//   image { name, fingerprint, short_fingerprint (12 hex), fingerprint_tag }
//   git   { commit, short_commit, branch } of the repository holding images.yaml
//   env   only the environment variables listed under top-level `env:`
// Every produced tag must satisfy the OCI tag grammar; each problem is reported at the tag
// template's position in images.yaml, all at once.

import nunjucks from 'nunjucks';
import type { Config, ImageConfig } from '../config/model.js';
import { displayPath } from '../display-path.js';
import { type Diagnostic, error, throwIfErrors } from '../errors.js';
import { tagProblem } from '../registry/reference.js';
import { CI_BRANCH_VARIABLES, type GitInfo } from './git.js';
import { NUNJUCKS_OPTIONS } from './render.js';
import { describeTemplateError } from './template-errors.js';

export interface TagContext {
  /** `sha256:<hex>` */
  fingerprint: string;
  /** The fingerprint tag (`fp-…`), visible as `image.fingerprint_tag`. */
  fingerprintTag: string;
  git: GitInfo;
  env: NodeJS.ProcessEnv;
}

/** Thrown inside a template when it reads an environment variable that is not listed under `env:`. */
class UnlistedEnvError extends Error {}

const environment = new nunjucks.Environment(null, NUNJUCKS_OPTIONS);
/** Compiled tag templates, per config: the same few templates serve every image. */
const compiledByConfig = new WeakMap<Config, Map<string, nunjucks.Template>>();

/** The image's tags, in template order without duplicates. Throws ArborError listing every bad template. */
export function renderTags(config: Config, image: ImageConfig, ctx: TagContext): string[] {
  const templates = image.tags ?? config.tags;
  const configPath = image.tags ? ['images', image.name, 'tags'] : ['tags'];
  const hex = ctx.fingerprint.replace(/^sha256:/, '');
  const context: Record<string, unknown> = {
    ...config.variables,
    variables: config.variables,
    image: {
      name: image.name,
      fingerprint: ctx.fingerprint,
      short_fingerprint: hex.slice(0, 12),
      fingerprint_tag: ctx.fingerprintTag,
    },
    git: { commit: ctx.git.commit, short_commit: ctx.git.shortCommit, branch: ctx.git.branch },
    env: listedEnvironment(config.env, ctx.env, config.file),
  };

  const diagnostics: Diagnostic[] = [];
  const tags: string[] = [];
  templates.forEach((source, i) => {
    const at = { loc: config.locate([...configPath, i]), image: image.name };
    let tag: string;
    try {
      tag = compiled(config, source).render(context);
    } catch (err) {
      diagnostics.push(
        error(`tag template "${source}": ${problemText(err, source, context, ctx.git, config)}`, at),
      );
      return;
    }
    const problem = tagProblem(tag);
    if (problem) {
      diagnostics.push(error(`tag template "${source}" produced the invalid tag "${tag}": ${problem}`, at));
      return;
    }
    if (!tags.includes(tag)) tags.push(tag);
  });
  throwIfErrors(diagnostics);
  return tags;
}

function compiled(config: Config, source: string): nunjucks.Template {
  let templates = compiledByConfig.get(config);
  if (!templates) {
    templates = new Map();
    compiledByConfig.set(config, templates);
  }
  let template = templates.get(source);
  if (!template) {
    // Eager compilation: a syntax error surfaces here, with its position in the string.
    template = new nunjucks.Template(source, environment, 'tag template', true);
    templates.set(source, template);
  }
  return template;
}

/**
 * `env` as tag templates see it: listed variables that are set. Reading one that is not listed
 * is an error at once (a typo or a missing `env:` entry); a listed one that is unset is
 * undefined, so `{{ env.X | default("dev") }}` works and a bare `{{ env.X }}` is an error.
 */
function listedEnvironment(listed: string[], env: NodeJS.ProcessEnv, configFile: string): object {
  const values: Record<string, string> = {};
  for (const name of listed) {
    const value = env[name];
    if (value !== undefined) values[name] = value;
  }
  return new Proxy(values, {
    get(target, key, receiver) {
      if (typeof key === 'string' && !(key in target) && !(key in Object.prototype) && !listed.includes(key))
        throw new UnlistedEnvError(
          `env.${key}: ${key} is not listed under env: in ${displayPath(configFile)} (tag templates see only the variables listed there)`,
        );
      return Reflect.get(target, key, receiver);
    },
  });
}

function problemText(
  err: unknown,
  source: string,
  context: Record<string, unknown>,
  git: GitInfo,
  config: Config,
): string {
  const problem = describeTemplateError(err, environment, () => source);
  const expression = problem.undefinedExpression;
  if (expression === undefined) {
    if (problem.col === undefined) return problem.message;
    const where = problem.line !== undefined && problem.line > 1 ? `line ${problem.line}, ` : '';
    return `${problem.message} at ${where}column ${problem.col}`;
  }
  const root = expression.split(/[.[]/)[0]!;
  if (root === 'env') return `environment variable ${expression.slice(4)} is not set`;
  if (root === 'git') return `${problem.message} (${gitHint(git)})`;
  if (!(root in context))
    return `${problem.message} (not defined under variables: in ${displayPath(config.file)})`;
  return problem.message;
}

function gitHint(git: GitInfo): string {
  if (git.commit === undefined && git.branch === undefined)
    return 'the directory of images.yaml is not in a git repository with a commit, or git is not installed';
  if (git.branch === undefined)
    return `HEAD is detached and none of ${CI_BRANCH_VARIABLES.join(', ')} is set`;
  return 'git has no such field: use git.commit, git.short_commit or git.branch';
}
