// The arbor project an import produces, as plain values (no filesystem): the files to write
// and the images.yaml keys the import owns.
//
//   images.yaml
//   docker/                 templates_dir and build contexts: Kolla's images directory as it is,
//                           except each Dockerfile.j2's first FROM line, which becomes
//                           `FROM {{ parent_ref }}` (arbor pins the parent by fingerprint or digest)
//   docker/repos.yaml       Kolla's kolla/template/repos.yaml, read by handle_repos
//   docker/template-overrides/<file>   the --template-override files (template_overrides)
//   kolla-sources/<section>.json       one per `*-archive` source: the fingerprint input of the
//                                      images that ADD it (see sources-lock.ts)

import type { KollaSource } from './defaults.js';
import type { KollaImage, Parentage } from './images.js';
import { type SourceLock, sourceLockFile } from './sources-lock.js';

export const TEMPLATES_DIR = 'docker';
/** Where a site's `--repos-yaml` is kept in the project (the `repos_yaml` variable names it). */
export const SITE_REPOS_YAML = `${TEMPLATES_DIR}/repos-site.yaml`;
export const OVERRIDES_DIR = 'template-overrides';
export const PARENT_FROM_LINE = 'FROM {{ parent_ref }}';

/** A path in images.yaml and the value the import gives it. */
export interface OwnedValue {
  path: string[];
  value: unknown;
}

/** A list in images.yaml of which the import owns some items (others may be the user's). */
export interface OwnedItems {
  path: string[];
  items: string[];
}

export interface ProjectPlan {
  /** Project-relative path → content. */
  files: Map<string, string | Uint8Array>;
  values: OwnedValue[];
  items: OwnedItems[];
  /** Values written only when the key is absent (the user owns them afterwards). */
  initial: OwnedValue[];
  /** Arbor image names, parents first. */
  images: string[];
}

export interface ImageInProject {
  image: KollaImage;
  parentage: Parentage;
  sources: KollaSource[];
}

export interface ProjectInput {
  /** Kolla's images directory: relative path → content (templates already rewritten). */
  dockerFiles: Map<string, string | Uint8Array>;
  reposYaml: string;
  /** A site's repos_yaml, kept in the project at SITE_REPOS_YAML. */
  siteReposYaml?: string;
  overrides: Array<{ name: string; text: string }>;
  variables: Record<string, unknown>;
  images: ImageInProject[];
  /** `image_prefix`: arbor's image name is the repository name, `<prefix><image>`. */
  imagePrefix: string;
  registry: { url: string; namespace: string; insecure?: boolean };
  /** Lock of each source (same order as the images' sources). */
  locks: Map<string, SourceLock>;
  /** The checkout's own Python helpers (template_helpers), when the built-in ones differ. */
  templateHelpers?: { globals: Record<string, string>; filters: Record<string, string> };
  /** Given explicitly on this run: registry / namespace are then owned, not only initial. */
  explicitRegistry: boolean;
}

/** Rewrites the first FROM line of a Kolla template; undefined when it has none at a line start. */
export function rewriteFromLine(template: string): string | undefined {
  const m = /^FROM[ \t].*$/m.exec(template);
  if (!m) return undefined;
  return template.slice(0, m.index) + PARENT_FROM_LINE + template.slice(m.index + m[0].length);
}

export function planProject(input: ProjectInput): ProjectPlan {
  const files = new Map<string, string | Uint8Array>();
  for (const [rel, content] of input.dockerFiles) files.set(`${TEMPLATES_DIR}/${rel}`, content);
  files.set(`${TEMPLATES_DIR}/repos.yaml`, input.reposYaml);
  if (input.siteReposYaml !== undefined) files.set(SITE_REPOS_YAML, input.siteReposYaml);
  for (const o of input.overrides) files.set(`${TEMPLATES_DIR}/${OVERRIDES_DIR}/${o.name}`, o.text);
  for (const [section, lock] of input.locks)
    files.set(sourceLockFile(section), `${JSON.stringify(lock, null, 2)}\n`);

  const values: OwnedValue[] = [
    { path: ['templates_dir'], value: TEMPLATES_DIR },
    {
      path: ['template_options'],
      value: {
        trim_blocks: false,
        lstrip_blocks: false,
        keep_trailing_newline: false,
        strict_undefined: false,
        python_values: true,
      },
    },
  ];
  if (input.templateHelpers) values.push({ path: ['template_helpers'], value: input.templateHelpers });
  for (const [name, value] of Object.entries(input.variables))
    values.push({ path: ['variables', name], value });

  const items: OwnedItems[] = [
    { path: ['template_overrides'], items: input.overrides.map((o) => `${OVERRIDES_DIR}/${o.name}`) },
  ];
  const arborName = (kollaName: string) => `${input.imagePrefix}${kollaName}`;
  const ordered = parentsFirst(input.images);
  for (const { image, parentage, sources } of ordered) {
    const at = ['images', arborName(image.kollaName)];
    if (parentage.parent !== undefined)
      values.push({ path: [...at, 'parent'], value: arborName(parentage.parent) });
    else values.push({ path: [...at, 'from'], value: parentage.from });
    values.push({ path: [...at, 'template'], value: image.template });
    values.push({ path: [...at, 'context'], value: `${TEMPLATES_DIR}/${image.dir}` });
    for (const [name, value] of Object.entries(image.variables))
      values.push({ path: [...at, 'variables', name], value });
    items.push({
      path: [...at, 'inputs', 'files'],
      items: [...new Set(sources.map((s) => sourceLockFile(s.section)))],
    });
  }

  const registry: OwnedValue[] = [
    { path: ['registry', 'url'], value: input.registry.url },
    { path: ['registry', 'namespace'], value: input.registry.namespace },
    ...(input.registry.insecure ? [{ path: ['registry', 'insecure'], value: true }] : []),
  ];
  const initial: OwnedValue[] = [
    { path: ['version'], value: 1 },
    { path: ['tags'], value: ['{{ tag }}'] },
  ];
  if (input.explicitRegistry) values.push(...registry);
  else initial.push(...registry);

  return { files, values, items, initial, images: ordered.map((i) => arborName(i.image.kollaName)) };
}

/** Images with every parent before its children, otherwise by name (a stable images.yaml). */
function parentsFirst(images: ImageInProject[]): ImageInProject[] {
  const byName = new Map(images.map((i) => [i.image.kollaName, i]));
  const children = new Map<string, ImageInProject[]>();
  const roots: ImageInProject[] = [];
  for (const i of images) {
    const parent = i.parentage.parent;
    if (parent !== undefined && byName.has(parent)) {
      const list = children.get(parent) ?? [];
      list.push(i);
      children.set(parent, list);
    } else roots.push(i);
  }
  const out: ImageInProject[] = [];
  const visit = (list: ImageInProject[]) => {
    for (const i of [...list].sort((a, b) => a.image.kollaName.localeCompare(b.image.kollaName))) {
      out.push(i);
      visit(children.get(i.image.kollaName) ?? []);
    }
  };
  visit(roots);
  return out;
}
