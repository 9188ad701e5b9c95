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
import { type Diagnostic, quote, type SourceLocation, throwIfErrors } from '../errors.js';
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

/** One image whose tags are wanted, and what its tag templates see. */
export interface TagRequest {
  image: ImageConfig;
  ctx: TagContext;
}

export interface RenderedTags {
  /** Per image: its tags, in template order without duplicates (images with a problem are absent). */
  tags: Map<string, string[]>;
  /**
   * Every problem once: a tag template failing the same way for several images is one
   * diagnostic at the template, naming those images.
   */
  diagnostics: Diagnostic[];
}

/** The image's tags, in template order without duplicates. Throws ArborError listing every bad template. */
export function renderTags(config: Config, image: ImageConfig, ctx: TagContext): string[] {
  const rendered = renderImagesTags(config, [{ image, ctx }]);
  throwIfErrors(rendered.diagnostics);
  return rendered.tags.get(image.name) ?? [];
}

/** The tags of many images, and every problem of their tag templates reported once. */
export function renderImagesTags(config: Config, requests: readonly TagRequest[]): RenderedTags {
  const tags = new Map<string, string[]>();
  // By tag template (position) and kind of problem, in the order first met.
  const problems = new Map<string, Problem>();
  const report = (
    key: string,
    image: string,
    loc: SourceLocation,
    problem: Omit<Problem, 'images' | 'loc'>,
  ) => {
    const known = problems.get(key);
    if (!known) problems.set(key, { ...problem, loc, images: [image] });
    else {
      known.images.push(image);
      if (known.invalid && problem.invalid) known.invalid.produced.push(...problem.invalid.produced);
    }
  };
  for (const { image, ctx } of requests) {
    const templates = image.tags ?? config.tags;
    const configPath = image.tags ? ['images', image.name, 'tags'] : ['tags'];
    const context = tagContext(config, image, ctx);
    const own: string[] = [];
    let failed = false;
    templates.forEach((source, i) => {
      const loc = config.locate([...configPath, i]);
      const where = `${loc.file}:${loc.line}:${loc.col}`;
      let tag: string;
      try {
        tag = compiled(config, source).render(context);
      } catch (err) {
        failed = true;
        const message = `tag template ${quote(source)}: ${problemText(err, source, context, ctx, config, image)}`;
        report(`${where}\u0000${message}`, image.name, loc, { message });
        return;
      }
      const problem = tag.includes('[object Object]')
        ? 'it printed a mapping; print one of its values (e.g. {{ name.key }})'
        : tagProblem(tag);
      if (problem) {
        failed = true;
        report(`${where}\u0000invalid\u0000${problem}`, image.name, loc, {
          message: '',
          invalid: { source, problem, produced: [tag] },
        });
        return;
      }
      if (!own.includes(tag)) own.push(tag);
    });
    if (!failed) tags.set(image.name, own);
  }
  const diagnostics = [...problems.values()].map((p): Diagnostic => {
    const at = p.images.length === 1 ? { image: p.images[0]! } : { images: p.images };
    return { severity: 'error', message: p.invalid ? invalidMessage(p) : p.message, loc: p.loc, ...at };
  });
  return { tags, diagnostics };
}

interface Problem {
  message: string;
  /** For produced tags outside the OCI grammar: the tag of each image, in `images` order. */
  invalid?: { source: string; problem: string; produced: string[] };
  loc: SourceLocation;
  images: string[];
}

/** `tag template "…" produced the invalid tag "…": why`, or for several images a few examples. */
function invalidMessage(p: Problem): string {
  const { source, problem, produced } = p.invalid!;
  const template = `tag template ${quote(source)}`;
  if (p.images.length === 1) return `${template} produced the invalid tag ${quote(produced[0]!)}: ${problem}`;
  const others = p.images.length - 1;
  return `${template} produced invalid tags (${quote(produced[0]!)} for ${p.images[0]}, and ${others} more): ${problem}`;
}

/**
 * What a tag template sees. An empty value (a variable set to "" or left empty, an environment
 * variable set to "") counts as unset: a tag like `2025.1-` is never what was meant, so using
 * one is an error unless the template gives a default (`{{ env.X | default("dev") }}`).
 */
function tagContext(config: Config, image: ImageConfig, ctx: TagContext): Record<string, unknown> {
  const hex = ctx.fingerprint.replace(/^sha256:/, '');
  const variables = withoutEmpty(config.variables) as Record<string, unknown>;
  return {
    ...variables,
    variables,
    image: {
      name: image.name,
      fingerprint: ctx.fingerprint,
      short_fingerprint: hex.slice(0, 12),
      fingerprint_tag: ctx.fingerprintTag,
    },
    git: { commit: ctx.git.commit, short_commit: ctx.git.shortCommit, branch: ctx.git.branch },
    env: listedEnvironment(config.env, ctx.env, config.file),
  };
}

/** A copy without "" and null values, at any depth of mappings. */
function withoutEmpty(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const result: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (isEmpty(item)) continue;
    result[key] = withoutEmpty(item);
  }
  return result;
}

function isEmpty(value: unknown): boolean {
  return value === '' || value === null;
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
    // Empty counts as unset (see tagContext).
    if (value !== undefined && value !== '') values[name] = value;
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
  ctx: TagContext,
  config: Config,
  image: ImageConfig,
): string {
  const problem = describeTemplateError(err, environment, () => source);
  const expression = problem.undefinedExpression;
  if (expression === undefined) {
    if (problem.col === undefined) return problem.message;
    const where = problem.line !== undefined && problem.line > 1 ? `line ${problem.line}, ` : '';
    return `${problem.message} at ${where}column ${problem.col}`;
  }
  const root = expression.split(/[.[]/)[0]!;
  const fix = `give a default, e.g. {{ ${expression} | default("dev") }}`;
  if (root === 'env') {
    const name = expression.slice(4);
    return ctx.env[name] === ''
      ? `environment variable ${name} is empty (${fix})`
      : `environment variable ${name} is not set (${fix})`;
  }
  if (root === 'git') return `${problem.message} (${gitHint(ctx.git)})`;
  if (emptyVariable(config.variables, expression))
    return `variable "${expression}" is empty in ${displayPath(config.file)} (set it, or ${fix})`;
  if (!(root in context) && Object.hasOwn(image.variables ?? {}, root))
    return `${problem.message} (images.${image.name}.variables are for its Dockerfile template; tag templates see the top-level variables: of ${displayPath(config.file)})`;
  if (!(root in context))
    return `${problem.message} (not defined under variables: in ${displayPath(config.file)})`;
  return problem.message;
}

/** Whether `release` or `variables.release` (or deeper) names a variable set to "" or null. */
function emptyVariable(variables: Record<string, unknown>, expression: string): boolean {
  const path = expression.split('.');
  if (path[0] === 'variables') path.shift();
  let value: unknown = variables;
  for (const key of path) {
    if (value === null || typeof value !== 'object' || !Object.hasOwn(value, key)) return false;
    value = (value as Record<string, unknown>)[key];
  }
  return path.length > 0 && isEmpty(value);
}

function gitHint(git: GitInfo): string {
  if (git.commit === undefined && git.branch === undefined)
    return 'the directory of images.yaml is not in a git repository with a commit, or git is not installed';
  if (git.branch === undefined)
    return `HEAD is detached and none of ${CI_BRANCH_VARIABLES.join(', ')} is set`;
  return 'git has no such field: use git.commit, git.short_commit or git.branch';
}

/**
 * The name of the tree's release (`releases.tag`, a tag template), rendered as a tag of `image`
 * (the tree's first image); problems are located at `releases.tag` (or the tag it defaults to).
 */
export function renderReleaseName(config: Config, image: ImageConfig, ctx: TagContext): string {
  const template = config.releases.tag;
  const rendered = renderImagesTags(config, [{ image: { ...image, tags: [template] }, ctx }]);
  const explicit = config.locate(['releases', 'tag']);
  throwIfErrors(
    rendered.diagnostics.map((d) => ({
      ...d,
      loc: explicit,
      message: d.message.replace(/^tag template/, 'release tag template'),
    })),
  );
  const [name] = rendered.tags.get(image.name) ?? [];
  if (!name) throw new Error(`internal: release tag template ${template} rendered nothing`);
  return name;
}
