// The images of a Kolla tree and their parents, found the way kolla-build finds them: each
// directory holding a Dockerfile.j2 is an image named after the directory; its template is
// rendered with kolla-build's context, and the first `FROM` line of the result names the parent
// (`FROM <namespace>/<prefix><image>:<tag>`, split on single spaces as kolla-build does). A parent
// that is an image of the tree becomes `parent:`, anything else is the external base (`from:`).

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Config, ImageConfig } from '../config/model.js';
import { ArborError, type Diagnostic, error, mergeRepeats } from '../errors.js';
import { REPOS_FILE } from '../render/helpers/kolla-methods.js';
import { createRenderer } from '../render/render.js';
import { IMAGE_TEMPLATE } from './checkout.js';
import { IMAGE_PLACEHOLDER } from './defaults.js';

export interface KollaImage {
  /** Kolla's name: the directory's name. */
  kollaName: string;
  /** Directory relative to the images directory (`nova/nova-api`). */
  dir: string;
  /** The template relative to the images directory (`nova/nova-api/Dockerfile.j2`). */
  template: string;
  /** Per-image variables (`image_name`). */
  variables: Record<string, string>;
}

export interface Parentage {
  /** Kolla name of the parent in the tree, or undefined for the root. */
  parent?: string;
  /** The external base when the parent is not in the tree. */
  from?: string;
}

/** Jinja2's defaults, which kolla-build's environment uses. */
export const KOLLA_TEMPLATE_OPTIONS = {
  trimBlocks: false,
  lstripBlocks: false,
  keepTrailingNewline: false,
  strictUndefined: false,
  pythonValues: true,
};

export function kollaImages(imageDirs: string[], perImage: Record<string, string>): KollaImage[] {
  return imageDirs.map((dir) => {
    const kollaName = path.posix.basename(dir);
    const variables: Record<string, string> = {};
    for (const [name, value] of Object.entries(perImage))
      variables[name] = value.replaceAll(IMAGE_PLACEHOLDER, kollaName);
    return { kollaName, dir, template: `${dir}/${IMAGE_TEMPLATE}`, variables };
  });
}

/** The canonical name kolla-build gives an image: `<namespace>/<prefix><image>:<tag>`. */
export function canonicalName(context: Record<string, unknown>, kollaName: string): string {
  return `${String(context.namespace)}/${String(context.image_prefix ?? '')}${kollaName}:${String(context.tag)}`;
}

/** What rendering an original template gave: its text, or the problems it raised. */
export type Rendered = { text: string } | { problems: Diagnostic[] };

/**
 * Renders every image's original template as kolla-build would. `templateFiles` are the
 * sources by name (relative to the images directory), with repos.yaml and any helper files:
 * they are rendered from a temporary directory. With `helpers`, the template functions and
 * filters are the checkout's own Python (template_helpers) instead of arbor's built-in ones.
 */
export function renderOriginals(
  images: KollaImage[],
  templateFiles: Map<string, string | Buffer>,
  context: Record<string, unknown>,
  helpers?: { globals: Record<string, string>; filters: Record<string, string> },
  /** Template overrides (names among `templateFiles`), each extending the template before it. */
  overrides: string[] = [],
): Map<string, Rendered> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'arbor-kolla-'));
  try {
    for (const [name, text] of templateFiles) {
      const file = path.join(dir, name);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, text);
    }
    const config = { ...renderConfig(dir, images, context), templateOverrides: overrides };
    if (helpers) config.templateHelpers = helpers;
    const renderer = createRenderer(config);
    const out = new Map<string, Rendered>();
    for (const image of images) {
      try {
        out.set(image.kollaName, { text: renderer.renderDockerfile(toImageConfig(image, dir), 'scratch') });
      } catch (err) {
        if (!(err instanceof ArborError)) throw err;
        out.set(image.kollaName, {
          problems: err.diagnostics.map((d) => {
            // The temporary directory means nothing to the user: relative to the images directory.
            const file = d.loc ? path.relative(dir, d.loc.file) || d.loc.file : undefined;
            // A problem in a file several images include (macros.j2) is the same for each of them:
            // said once (mergeRepeats), not prefixed with each image's own template.
            const shared = file !== undefined && file !== image.template;
            // The temporary images.yaml is no place the user can look at.
            const { loc: _, ...rest } = d;
            return {
              ...rest,
              message: shared ? d.message : `${image.template}: ${d.message}`,
              image: image.kollaName,
              ...(d.loc && file !== 'images.yaml' ? { loc: { ...d.loc, file: file! } } : {}),
            };
          }),
        });
      }
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Each image's parent, from the first FROM line of its rendered template; every problem at once. */
export function parentsOf(
  images: KollaImage[],
  rendered: Map<string, Rendered>,
  context: Record<string, unknown>,
  imagesDir?: string,
): Map<string, Parentage> {
  const byCanonical = new Map(images.map((i) => [canonicalName(context, i.kollaName), i.kollaName]));
  const parents = new Map<string, Parentage>();
  const problems: Diagnostic[] = [];
  for (const image of images) {
    const result = rendered.get(image.kollaName)!;
    if ('problems' in result) {
      problems.push(...result.problems);
      continue;
    }
    const from = fromTarget(result.text);
    if (from === undefined) {
      problems.push(error(`${image.template} renders no FROM line`, { image: image.kollaName }));
      continue;
    }
    const parent = byCanonical.get(from);
    parents.set(image.kollaName, parent !== undefined ? { parent } : { from });
  }
  if (problems.length > 0)
    throw new ArborError(
      mergeRepeats(problems).map((d) =>
        // Where the user can open it: under the checkout's images directory.
        imagesDir && d.loc && !path.isAbsolute(d.loc.file)
          ? { ...d, loc: { ...d.loc, file: path.join(imagesDir, d.loc.file) } }
          : d,
      ),
    );
  return parents;
}

/** kolla-build: `re.search('^FROM.*$', content, re.MULTILINE).group(0).split(' ')[1]`. */
export function fromTarget(dockerfile: string): string | undefined {
  const line = /^FROM.*$/m.exec(dockerfile)?.[0];
  return line?.split(' ')[1];
}

function toImageConfig(image: KollaImage, dir: string): ImageConfig {
  return {
    name: image.kollaName,
    template: image.template,
    inputs: { files: [], env: [] },
    args: {},
    platforms: [],
    labels: {},
    variables: image.variables,
    loc: { file: path.join(dir, 'images.yaml'), line: 1, col: 1 },
  };
}

function renderConfig(dir: string, images: KollaImage[], context: Record<string, unknown>): Config {
  const file = path.join(dir, 'images.yaml');
  return {
    file,
    root: dir,
    templatesDir: dir,
    configDigest: '',
    version: 1,
    registry: { url: 'kolla.invalid', namespace: '', insecure: false },
    builder: { name: 'docker', buildkit: false, network: 'none' },
    variables: context,
    env: [],
    tags: [],
    templateOverrides: [],
    templateOptions: KOLLA_TEMPLATE_OPTIONS,
    fingerprint: { tagPrefix: 'fp-' },
    images: images.map((i) => toImageConfig(i, dir)),
    retention: [],
    releases: { tag: '{{ tag }}', repository: 'arbor-releases', record: false, deltas: false },
    promote: [],
    locate: () => ({ file, line: 1, col: 1 }),
  };
}

/**
 * The files rendering needs: the whole images directory (templates include other files, as
 * Kolla's rabbitmq includes its package lists) and repos.yaml.
 */
export function templateSources(
  dockerDir: string,
  files: string[],
  reposFile: string,
): Map<string, string | Buffer> {
  const out = new Map<string, string | Buffer>();
  for (const rel of files) out.set(rel, readFileSync(path.join(dockerDir, rel)));
  out.set(REPOS_FILE, readFileSync(reposFile, 'utf8'));
  return out;
}
