// `arbor import-kolla`: a Kolla checkout → an arbor project whose Dockerfiles are the ones
// kolla-build renders. Reading happens first and completely (the checkout's Python code, the
// template context, every image's parent by rendering it); only then is anything written, by
// write.ts, which refuses to overwrite what someone edited.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { displayPath } from '../display-path.js';
import { ArborError, type Diagnostic, error, mergeRepeats, warning } from '../errors.js';
import { containsUnknown, isDict, type PyValue, toPlain } from '../python/values.js';
import { loadPythonHelpers } from '../render/render.js';
import {
  findImageDirs,
  gitShortCommit,
  IMAGE_TEMPLATE,
  listFiles,
  locateCheckout,
  packageVersion,
} from './checkout.js';
import { type KollaSource, readDefaults, unknownValueProblems, usersFromConf } from './defaults.js';
import { fetchSources } from './fetch.js';
import { chooseHelpers, type HelperChoice } from './helpers.js';
import {
  type KollaImage,
  kollaImages,
  type Parentage,
  parentsOf,
  renderOriginals,
  templateSources,
} from './images.js';
import {
  type ImageInProject,
  OVERRIDES_DIR,
  planProject,
  rewriteFromLine,
  SITE_REPOS_YAML,
  TEMPLATES_DIR,
} from './project.js';
import { parseIni } from './python/oslo.js';
import { KollaProgram } from './python/program.js';
import { imageSources } from './sources.js';
import { lockOf, parseLock, type SourceLock, sourceLockFile } from './sources-lock.js';
import { matchesBaseAndArch, type UnbuildableTable, unbuildableFor, withDescendants } from './unbuildable.js';
import { type WriteResult, writeProject } from './write.js';

export interface ImportOptions {
  kollaDir: string;
  outDir: string;
  /** kolla-build's --base. */
  base?: string;
  /** kolla-build's --registry and --namespace; they also become the project's registry. */
  registry?: string;
  namespace?: string;
  /** registry.insecure: plain HTTP (a registry on loopback). */
  insecure?: boolean;
  /** A kolla-build.conf. */
  configFile?: string;
  /** More kolla-build options, `NAME=VALUE` (`base-arch=aarch64`, `tag=2025.1`). */
  options: string[];
  /** kolla-build's --template-override files, in order. */
  templateOverrides: string[];
  force: boolean;
  /** Fetch the `*-archive` sources into the build contexts: all (true) or these sections. */
  fetchSources?: true | string[];
  env: NodeJS.ProcessEnv;
  /** `os.uname()[4]` as kolla-build would see it. */
  hostArch: string;
}

export interface ImportReport {
  base: string;
  images: number;
  /** Images kolla-build leaves out for this base (UNBUILDABLE_IMAGES and their descendants). */
  unbuildable: string[];
  sources: number;
  warnings: Diagnostic[];
  write: WriteResult;
}

/** Where Kolla keeps the repository definitions handle_repos reads. */
const REPOS_YAML = ['template', 'repos.yaml'];

/**
 * A site's `--repos-yaml` (`-o repos_yaml=FILE`, or the config file's): its text, read now. The
 * project keeps a copy (SITE_REPOS_YAML) and points `repos_yaml` at it, so the tree renders the
 * same anywhere; kolla-build opens the path as given, from where it runs.
 */
function siteReposFile(variables: Record<string, unknown>): string | undefined {
  const file = variables.repos_yaml;
  if (typeof file !== 'string' || file === '') return undefined;
  try {
    return readFileSync(path.resolve(file), 'utf8');
  } catch (e) {
    throw new ArborError([
      error(`repos_yaml ${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`),
    ]);
  }
}

export async function importKolla(options: ImportOptions): Promise<ImportReport> {
  const checkout = locateCheckout(options.kollaDir);
  const warnings: Diagnostic[] = [];
  const sources = { file: readConfigFile(options.configFile) };
  const cli: Array<[string, string]> = [];
  if (options.base) cli.push(['base', options.base]);
  if (options.registry) cli.push(['registry', options.registry]);
  if (options.namespace) cli.push(['namespace', options.namespace]);
  for (const option of options.options) {
    const at = option.indexOf('=');
    if (at <= 0)
      throw new ArborError([error(`--option ${option}: expected NAME=VALUE (a kolla-build option)`)]);
    cli.push([option.slice(0, at).trim().replace(/^--/, ''), option.slice(at + 1)]);
  }
  const defaults = sources.file.get('DEFAULT') ?? new Map<string, string[]>();
  for (const [name, value] of cli) {
    const key = name.replaceAll('-', '_');
    defaults.set(key, [...(defaults.get(key) ?? []), value]);
  }
  sources.file.set('DEFAULT', defaults);

  const program = new KollaProgram({
    packageDir: checkout.packageDir,
    sources,
    hostArch: options.hostArch,
    gitShortCommit: gitShortCommit(checkout.root),
    version: packageVersion(checkout.root, options.env),
  });
  const kolla = readDefaults(program);
  // kolla-build refuses an option it does not know; a typo (`-o basetag=…`) must not pass unseen.
  const unknownOptions = [...new Set(cli.map(([name]) => name.replaceAll('-', '_')))].filter(
    (key) => !kolla.conf.knows('DEFAULT', key),
  );
  if (unknownOptions.length > 0)
    throw new ArborError(
      unknownOptions.map((key) =>
        error(`--option ${key}: this Kolla's kolla-build has no such option (kolla/common/config.py)`),
      ),
    );
  const { context } = kolla;

  const variables: Record<string, unknown> = { ...context.common };
  if (containsUnknown(variables.users as PyValue)) variables.users = usersFromConf(kolla.conf);
  // Kolla renders with `env=os.environ`; the imported tree's templates see an empty environment
  // (a value that depends on the machine would make fingerprints differ between machines).
  for (const keyword of context.renderKeywords) if (!(keyword in variables)) variables[keyword] = {};
  warnings.push(...unknownValueProblems(context));
  for (const [name, value] of Object.entries(variables))
    if (containsUnknown(value as PyValue)) delete variables[name];

  const siteRepos = siteReposFile(variables);
  if (siteRepos) variables.repos_yaml = SITE_REPOS_YAML;
  const base = String(variables.base_distro ?? options.base ?? '');
  const arch = String(variables.base_arch ?? options.hostArch);
  const dockerFiles = listFiles(checkout.dockerDir);
  const imageDirs = findImageDirs(dockerFiles);
  const images = kollaImages(imageDirs, context.perImage);
  const duplicates = duplicateNames(images);
  if (duplicates.length > 0)
    throw new ArborError(
      duplicates.map((d) =>
        error(
          `${d.dirs.length} images named ${d.name} in ${displayPath(checkout.dockerDir)}: ${d.dirs.join(', ')} (an image's name is its directory's; rename one)`,
        ),
      ),
    );

  const reposFile = path.join(checkout.packageDir, ...REPOS_YAML);
  if (!existsSync(reposFile))
    throw new ArborError([error(`${displayPath(reposFile)}: not found (handle_repos reads it)`)]);
  // The checkout's own helpers are rendered with the Python interpreter: load it first.
  await loadPythonHelpers();
  const templates = templateSources(checkout.dockerDir, dockerFiles, reposFile);
  // Rendered from a directory that is both root and templates: the site's file where repos_yaml names it.
  if (siteRepos !== undefined) templates.set(SITE_REPOS_YAML, siteRepos);
  const helpers = chooseHelpers(images, templates, variables, context);
  warnings.push(...helpers.notes);
  const parents = parentsOf(images, helpers.rendered, variables, displayPath(checkout.dockerDir));

  const table = unbuildableTable(program, warnings);
  const listed =
    kolla.option('enable_unbuildable') === true
      ? new Set<string>()
      : unbuildableFor(table, kolla.unbuildableKey ?? ((key) => matchesBaseAndArch(key, base, arch)));
  const excluded = withDescendants(
    listed,
    (name) => parents.get(name)?.parent,
    images.map((i) => i.kollaName),
  );
  const included = images.filter((i) => !excluded.has(i.kollaName));
  checkRoots(included, parents);

  const inProject: ImageInProject[] = included.map((image) => ({
    image,
    parentage: parents.get(image.kollaName)!,
    sources: imageSources(program, kolla.conf, image.kollaName),
  }));
  let locks = new Map<string, SourceLock>();
  for (const source of inProject.flatMap((i) => i.sources))
    locks.set(source.section, lockOf(source, previousLock(options.outDir, source)));
  let archives = keptArchives(options.outDir, inProject, locks);
  if (options.fetchSources !== undefined) {
    const fetched = await fetchSources(inProject, locks, {
      ...(options.fetchSources === true ? {} : { only: options.fetchSources }),
      debianArch: String(variables.debian_arch ?? 'amd64'),
      contextsDir: TEMPLATES_DIR,
      localsBase: stringOption(kolla.option('locals_base')) ?? '.',
    });
    locks = fetched.locks;
    archives = new Map([...archives, ...fetched.archives]);
  }

  const projectFiles = dockerProjectFiles(checkout.dockerDir, dockerFiles, included, excluded, images);
  for (const [rel, bytes] of archives) projectFiles.set(rel.slice(TEMPLATES_DIR.length + 1), bytes);
  for (const [rel, text] of helpers.files) projectFiles.set(rel, text);
  const overrides = mergeOverrides(
    options.templateOverrides.map((file) => {
      if (!existsSync(file)) throw new ArborError([error(`--template-override ${file}: no such file`)]);
      return { name: path.basename(file), text: readFileSync(file, 'utf8') };
    }),
  );

  // The overrides are the user's own templates: rendered with every image now, so one that cannot
  // render stops the import before anything is written, as it stops kolla-build.
  if (overrides.length > 0)
    checkOverrides(included, templates, helpers, overrides, variables, options.templateOverrides[0]!);

  const registryUrl = stringOption(kolla.option('registry')) ?? 'docker.io';
  const plan = planProject({
    dockerFiles: projectFiles,
    reposYaml: readFileSync(reposFile, 'utf8'),
    ...(siteRepos ? { siteReposYaml: siteRepos } : {}),
    overrides,
    variables,
    images: inProject,
    imagePrefix: String(variables.image_prefix ?? ''),
    registry: {
      url: registryUrl,
      namespace: stringOption(kolla.option('namespace')) ?? '',
      ...(options.insecure ? { insecure: true } : {}),
    },
    locks,
    ...(helpers.python ? { templateHelpers: helpers.python } : {}),
    explicitRegistry:
      options.registry !== undefined || options.namespace !== undefined || options.insecure === true,
  });
  const write = await writeProject(options.outDir, plan, { force: options.force });
  return {
    base,
    images: included.length,
    unbuildable: [...excluded].sort(),
    sources: locks.size,
    warnings: [
      ...warnings,
      ...program.problems
        .filter((p) => /kolla\/common\/|kolla\/image\/kolla_worker/.test(p.file))
        .map((p) =>
          warning(
            `${displayPath(p.file)}:${p.line}: not understood (${p.message}); the values it sets may be missing`,
          ),
        ),
      ...write.overwritten,
    ],
    write,
  };
}

function readConfigFile(file: string | undefined): Map<string, Map<string, string[]>> {
  if (file === undefined) return new Map();
  if (!existsSync(file)) throw new ArborError([error(`--config ${file}: no such file`)]);
  try {
    return parseIni(readFileSync(file, 'utf8'), displayPath(file));
  } catch (err) {
    throw new ArborError([error((err as Error).message)]);
  }
}

function stringOption(value: PyValue): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * Several --template-override files as kolla-build takes them (KollaWorker._merge_overrides): one
 * text under the first one's name, each later file appended without its `{% extends %}` lines. So
 * the last `{% set %}` of a name wins, and a block defined in two of them is an error, as there.
 */
export function mergeOverrides(
  overrides: ReadonlyArray<{ name: string; text: string }>,
): Array<{ name: string; text: string }> {
  if (overrides.length < 2) return [...overrides];
  const [first, ...rest] = overrides;
  // Python's re.sub(r'.*\{\%.*extends.*\n', '', text): every line holding `{%` then `extends`.
  const text = rest.reduce((merged, o) => merged + o.text.replace(/.*\{%.*extends.*\n/g, ''), first!.text);
  return [{ name: first!.name, text }];
}

/** Renders every image with the (merged) override; its problems at the user's own override file. */
function checkOverrides(
  images: KollaImage[],
  templates: Map<string, string | Buffer>,
  helpers: HelperChoice,
  overrides: Array<{ name: string; text: string }>,
  variables: Record<string, unknown>,
  givenAs: string,
): void {
  const files = new Map(templates);
  for (const [rel, text] of helpers.files) files.set(rel, text);
  for (const o of overrides) files.set(`${OVERRIDES_DIR}/${o.name}`, o.text);
  const rendered = renderOriginals(
    images,
    files,
    variables,
    helpers.python,
    overrides.map((o) => `${OVERRIDES_DIR}/${o.name}`),
  );
  const problems = images.flatMap((image) => {
    const result = rendered.get(image.kollaName)!;
    return 'problems' in result ? result.problems : [];
  });
  if (problems.length === 0) return;
  const merged = `${OVERRIDES_DIR}/${overrides[0]!.name}`;
  throw new ArborError(
    mergeRepeats(problems).map((d) =>
      d.loc?.file === merged ? { ...d, loc: { ...d.loc, file: displayPath(givenAs) } } : d,
    ),
  );
}

/** Names that more than one image directory has, each with those directories. */
function duplicateNames(images: KollaImage[]): Array<{ name: string; dirs: string[] }> {
  const dirs = new Map<string, string[]>();
  for (const i of images) dirs.set(i.kollaName, [...(dirs.get(i.kollaName) ?? []), i.dir]);
  return [...dirs].filter(([, list]) => list.length > 1).map(([name, list]) => ({ name, dirs: list }));
}

/** UNBUILDABLE_IMAGES from kolla/image/unbuildable.py (or wherever kolla_worker imports it from). */
function unbuildableTable(program: KollaProgram, warnings: Diagnostic[]): UnbuildableTable {
  const value =
    program.scopeOf('kolla.image.unbuildable')?.vars.get('UNBUILDABLE_IMAGES') ??
    program.scopeOf('kolla.image.kolla_worker')?.vars.get('UNBUILDABLE_IMAGES');
  if (!isDict(value)) {
    warnings.push(
      warning(
        'no UNBUILDABLE_IMAGES in the checkout (kolla/image/unbuildable.py): every image is imported, also those kolla-build skips for this base',
      ),
    );
    return {};
  }
  const table: UnbuildableTable = {};
  for (const [key, images] of Object.entries(toPlain(value) as Record<string, unknown>))
    table[key] = Array.isArray(images) ? images.map(String) : [];
  return table;
}

function checkRoots(images: KollaImage[], parents: Map<string, Parentage>): void {
  const names = new Set(images.map((i) => i.kollaName));
  const problems = images
    .filter((i) => {
      const p = parents.get(i.kollaName)!;
      return p.parent !== undefined && !names.has(p.parent);
    })
    .map((i) =>
      error(`${i.template}: its parent ${parents.get(i.kollaName)!.parent} is not imported`, {
        image: i.kollaName,
      }),
    );
  if (problems.length > 0) throw new ArborError(problems);
}

/**
 * The images directory as the project holds it: every file of the imported images and outside
 * any image (macros.j2), each image's Dockerfile.j2 with its FROM line rewritten. The directories
 * of images left out are not copied.
 */
function dockerProjectFiles(
  dockerDir: string,
  files: string[],
  included: KollaImage[],
  excluded: Set<string>,
  all: KollaImage[],
): Map<string, string | Uint8Array> {
  const dirs = [...all].sort((a, b) => b.dir.length - a.dir.length);
  const owner = (rel: string) => dirs.find((i) => rel.startsWith(`${i.dir}/`));
  const includedTemplates = new Set(included.map((i) => i.template));
  const out = new Map<string, string | Uint8Array>();
  const problems: Diagnostic[] = [];
  for (const rel of files) {
    const image = owner(rel);
    if (image && excluded.has(image.kollaName)) continue;
    const content = readFileSync(path.join(dockerDir, rel));
    if (includedTemplates.has(rel) && path.posix.basename(rel) === IMAGE_TEMPLATE) {
      const rewritten = rewriteFromLine(content.toString('utf8'));
      if (rewritten === undefined) {
        problems.push(
          error(`${rel}: no FROM line at the start of a line to point at the parent`, {
            image: image?.kollaName,
          }),
        );
        continue;
      }
      out.set(rel, rewritten);
    } else out.set(rel, content);
  }
  if (problems.length > 0) throw new ArborError(problems);
  return out;
}

/**
 * Archives an earlier --fetch-sources left in the contexts, kept while what they came from is
 * unchanged (their locks still resolved); the others are dropped, so a stale archive is never
 * built: fetch again.
 */
function keptArchives(
  outDir: string,
  images: ImageInProject[],
  locks: Map<string, SourceLock>,
): Map<string, Uint8Array> {
  const kept = new Map<string, Uint8Array>();
  const resolved = (s: KollaSource) => locks.get(s.section)?.resolved !== undefined;
  for (const { image, sources } of images) {
    const candidates: Array<[string, boolean]> = [
      ...sources.filter((s) => s.kind === 'source').map((s) => [s.archive, resolved(s)] as [string, boolean]),
      ['plugins-archive', sources.filter((s) => s.kind === 'plugin').every(resolved)],
      ['additions-archive', sources.filter((s) => s.kind === 'addition').every(resolved)],
    ];
    for (const [archive, keep] of candidates) {
      const rel = `${TEMPLATES_DIR}/${image.dir}/${archive}`;
      const file = path.join(outDir, rel);
      if (keep && existsSync(file)) kept.set(rel, readFileSync(file));
    }
  }
  return kept;
}

function previousLock(outDir: string, source: KollaSource): SourceLock | undefined {
  const file = path.join(outDir, sourceLockFile(source.section));
  if (!existsSync(file)) return undefined;
  return parseLock(readFileSync(file, 'utf8'));
}
