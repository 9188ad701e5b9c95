// Renders each image's Dockerfile from the Nunjucks templates of images.yaml (Jinja2-style, so
// Kolla templates port over): extends/blocks, `{% import "macros.njk" as m with context %}`,
// and Kolla's template overrides as a chain of templates that each extend the previous one.
//
// Template context (Kolla style, variables also at top level):
//   every entry of `variables`, and `variables` itself
//   image           { name, parent, from, args, platforms, labels }
//   parent_ref      the exact reference to build FROM (fingerprint tag or digest, or `scratch`)
//   parent_template in override templates: `{% extends parent_template %}` extends the previous
//                   template of the chain (image template → template_overrides… → image override)
// arbor's own names win over a variable of the same name.
//
// Images with `dockerfile:` are used as written. Such a Dockerfile gets its parent through a
// build argument the executor adds (see extraBuildArgs):
//   ARG PARENT_REF
//   FROM ${PARENT_REF}

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import nunjucks from 'nunjucks';
import type { Config, ImageConfig } from '../config/model.js';
import { repositoryOf } from '../config/repository.js';
import { displayPath } from '../display-path.js';
import { ArborError, type Diagnostic, error, type SourceLocation } from '../errors.js';
import { decodeUtf8 } from '../utf8-text.js';
import { installKollaHelpers, loadRepoParser, REPOS_FILE } from './helpers/kolla-methods.js';
import { installJinja2 } from './jinja2/index.js';
import { describeTemplateError } from './template-errors.js';
import { PARENT_TEMPLATE, TemplateLoader, type TemplateLookupError } from './template-loader.js';
import { findTemplateLoop } from './template-loops.js';

/** The build argument that carries the parent reference into a plain `dockerfile:` image. */
export const PARENT_REF_ARG = 'PARENT_REF';

export interface Renderer {
  /**
   * The Dockerfile of one image. `parentRef` is the exact reference to build FROM; null when it
   * is not known yet (see defaultParentRef). Throws ArborError naming the template, line and image.
   */
  renderDockerfile(image: ImageConfig, parentRef: string | null): string;
  /** The templates the image is rendered from, render target last; empty for `dockerfile:` images. */
  templateChain(image: ImageConfig): string[];
}

/** Nunjucks options shared by Dockerfile and tag templates. */
export const NUNJUCKS_OPTIONS: nunjucks.ConfigureOptions = {
  // An undefined variable is an error, never an empty string in a Dockerfile or a tag.
  throwOnUndefined: true,
  // Dockerfiles and tags are not HTML.
  autoescape: false,
  // Block tags do not leave blank lines and indentation behind. Dockerfile templates can turn this
  // off with template_options (Jinja2's own defaults, which kolla-build keeps, have both off).
  trimBlocks: true,
  lstripBlocks: true,
  // Keeps the original error object (position, stack) instead of a re-thrown copy.
  dev: true,
};

// The Python interpreter behind `template_helpers:` (with the YAML parser its `yaml` module uses)
// and the YAML parser Kolla's handle_repos reads repos.yaml with are most of the template layer's
// code: only trees that use them load them (prepareRenderer, awaited before createRenderer), so a
// plan of any other tree does not pay for them at start-up.
type PythonHelpers = typeof import('./helpers/python-helpers.js');
let pythonHelpers: PythonHelpers | undefined;

/** Loads what createRenderer needs for `template_helpers:` and Kolla's repos files. */
export async function loadPythonHelpers(): Promise<void> {
  await loadRepoParser();
  pythonHelpers ??= await import('./helpers/python-helpers.js');
}

/** Everything createRenderer(config) needs loaded first. */
export async function prepareRenderer(
  config: Pick<Config, 'templateHelpers' | 'templatesDir' | 'variables' | 'images'>,
): Promise<void> {
  if (config.templateHelpers) await loadPythonHelpers();
  const reposFile =
    existsSync(path.join(config.templatesDir, REPOS_FILE)) ||
    'repos_yaml' in (config.variables ?? {}) ||
    config.images.some((image) => 'repos_yaml' in (image.variables ?? {}));
  if (reposFile) await loadRepoParser();
}

export function createRenderer(config: Config): Renderer {
  const loader = new TemplateLoader(config.templatesDir);
  const env = new nunjucks.Environment(
    loader as unknown as nunjucks.ILoader,
    {
      ...NUNJUCKS_OPTIONS,
      // template_options (Jinja2's names); keepTrailingNewline is read by the Jinja2 compiler.
      throwOnUndefined: config.templateOptions?.strictUndefined ?? true,
      trimBlocks: config.templateOptions?.trimBlocks ?? true,
      lstripBlocks: config.templateOptions?.lstripBlocks ?? true,
      keepTrailingNewline: config.templateOptions?.keepTrailingNewline ?? true,
      // Read by the compiled output through the Jinja2 runtime (compiler.ts).
      pythonValues: config.templateOptions?.pythonValues ?? false,
    } as nunjucks.ConfigureOptions,
  );
  loader.attach(env);
  installJinja2(env);
  installKollaHelpers(env, { templatesDir: config.templatesDir, root: config.root });
  if (config.templateHelpers) installHelpers(env, config);

  function templateChain(image: ImageConfig): string[] {
    if (image.dockerfile !== undefined) return [];
    return chainLinks(config, loader, image).map((link) => link.name);
  }

  function renderTemplate(image: ImageConfig, parentRef: string): string {
    const chain = chainLinks(config, loader, image);
    const names = chain.map((link) => link.name);
    const target = names[names.length - 1]!;
    const context = {
      ...config.variables,
      ...image.variables,
      variables: config.variables,
      image: {
        name: image.name,
        parent: image.parent,
        from: image.from,
        args: image.args,
        platforms: image.platforms,
        labels: image.labels,
      },
      parent_ref: parentRef,
      parent_template: PARENT_TEMPLATE,
    };
    loader.chain = names;
    try {
      const loop = findTemplateLoop(target, (name) => loader.references(name));
      if (loop) {
        const { in: template, line, col } = loop.closing;
        const loc = { file: displayPath(loader.fileOf(template)), line, col };
        throw new ArborError([error(loop.message, { loc, image: image.name })]);
      }
      return env.render(target, context);
    } catch (err) {
      if (err instanceof ArborError) throw err;
      throw new ArborError([templateDiagnostic(err, image, target, context)], { cause: err });
    } finally {
      loader.chain = [];
    }
  }

  function templateDiagnostic(
    err: unknown,
    image: ImageConfig,
    target: string,
    context: Record<string, unknown>,
  ): Diagnostic {
    const problem = describeTemplateError(err, env, (name) => loader.sourceOf(name ?? target), target);
    const template = problem.template ?? target;
    let message = problem.message;
    const root = problem.undefinedExpression?.split(/[.[]/)[0];
    if (root !== undefined && !(root in context))
      message += ` (not defined under variables: in ${displayPath(config.file)})`;
    else if (root !== undefined && problem.undefinedExpression === root && context[root] === null)
      message = `variable "${root}" is empty (null) in ${displayPath(config.file)}`;
    if (problem.line === undefined)
      return error(`template ${template}: ${message}`, { loc: image.loc, image: image.name });
    const loc: SourceLocation = {
      file: displayPath(loader.fileOf(template)),
      line: problem.line,
      col: problem.col ?? 1,
    };
    return error(message, { loc, image: image.name });
  }

  return {
    templateChain,
    renderDockerfile(image, parentRef) {
      const ref = parentRef ?? defaultParentRef(config, image);
      if (image.dockerfile !== undefined) return readDockerfile(config, image);
      return renderTemplate(image, ref);
    },
  };
}

/** `template_helpers`: a helper that cannot be loaded is an error at its key in images.yaml. */
function installHelpers(env: nunjucks.Environment, config: Config): void {
  if (!pythonHelpers)
    throw new Error('internal: prepareRenderer(config) must be awaited before createRenderer');
  try {
    pythonHelpers.installPythonHelpers(env, config.templateHelpers!, {
      templatesDir: config.templatesDir,
      root: config.root,
    });
  } catch (err) {
    if (!(err instanceof pythonHelpers.PythonHelperError)) throw err;
    const kind = Object.hasOwn(config.templateHelpers!.globals, err.helper) ? 'globals' : 'filters';
    throw new ArborError([
      error(err.message, { loc: config.locate(['template_helpers', kind, err.helper]) }),
    ]);
  }
}

/**
 * Build arguments the executor must add for an image besides its `args`: a plain `dockerfile:`
 * image learns its parent through `PARENT_REF`; a templated one has it rendered in.
 */
export function extraBuildArgs(image: ImageConfig, parentRef: string): Record<string, string> {
  return image.dockerfile !== undefined ? { [PARENT_REF_ARG]: parentRef } : {};
}

/**
 * The reference used when the caller has no pinned one yet (e.g. rendering before any
 * fingerprint is known): `scratch`, the external `from` as written, or the parent's repository.
 */
export function defaultParentRef(config: Pick<Config, 'registry'>, image: ImageConfig): string {
  if (image.parent !== undefined) return repositoryOf(config, image.parent);
  return image.from ?? 'scratch';
}

interface ChainLink {
  name: string;
  /** Where the link is configured, for errors. */
  configPath: ReadonlyArray<string | number>;
}

/** The image's template, then every template_overrides entry, then the image's own override. */
function chainLinks(config: Config, loader: TemplateLoader, image: ImageConfig): ChainLink[] {
  const links: ChainLink[] = [];
  if (image.template !== undefined) {
    links.push({ name: image.template, configPath: ['images', image.name, 'template'] });
  } else {
    const conventional = `${image.name}.Dockerfile.njk`;
    if (!loader.exists(conventional))
      throw new ArborError([
        error(`no template: set template or dockerfile, or add ${displayPath(loader.fileOf(conventional))}`, {
          loc: image.loc,
          image: image.name,
        }),
      ]);
    links.push({ name: conventional, configPath: ['images', image.name] });
  }
  config.templateOverrides.forEach((name, i) => {
    links.push({ name, configPath: ['template_overrides', i] });
  });
  if (image.override !== undefined)
    links.push({ name: image.override, configPath: ['images', image.name, 'override'] });

  const seen = new Set<string>();
  return links.map((link) => {
    const at = { loc: config.locate(link.configPath), image: image.name };
    let name: string;
    try {
      name = loader.normalize(link.name);
    } catch (err) {
      throw new ArborError([error((err as TemplateLookupError).message, at)]);
    }
    if (!existsSync(loader.fileOf(name)))
      throw new ArborError([
        error(`template "${name}" not found in ${displayPath(config.templatesDir)}`, at),
      ]);
    if (seen.has(name))
      throw new ArborError([error(`template "${name}" appears twice in the template chain`, at)]);
    seen.add(name);
    return { ...link, name };
  });
}

/** A `dockerfile:` image: the file as written, no templating. */
function readDockerfile(config: Config, image: ImageConfig): string {
  const relative = image.dockerfile!;
  const at = { loc: config.locate(['images', image.name, 'dockerfile']), image: image.name };
  const file = path.resolve(config.root, relative);
  const inside = path.relative(config.root, file);
  if (path.isAbsolute(relative) || inside.startsWith('..'))
    throw new ArborError([error(`dockerfile "${relative}" is outside the directory of images.yaml`, at)]);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (err as Error).message;
    throw new ArborError([error(`dockerfile "${relative}": ${reason}`, at)], { cause: err });
  }
  const decoded = decodeUtf8(bytes);
  if ('text' in decoded) return decoded.text;
  throw new ArborError([
    error(`dockerfile "${relative}" is not UTF-8 text (an invalid byte on line ${decoded.badLine})`, at),
  ]);
}
