// Wish lists in the format of DUCC's recipe v1 (cvmfs/ducc lib/recipe.go), so sites that fill
// unpacked.cern.ch can point arbor at the file they have:
//
//   version: 1
//   user: smosciat                      # DUCC pushes thin images as this user; recorded only
//   cvmfs_repo: unpacked.cern.ch        # recorded only: arbor writes to --out
//   output_format: '$(scheme)://registry.gitlab.cern.ch/thin/$(image)'
//   input:
//     - 'https://registry.hub.docker.com/library/fedora:latest'
//     - 'registry.cern.ch/atlas/athena:22.*'   # `*` in a tag: every matching tag (as DUCC)
//
// Images are `[scheme://]registry/repository[:tag][@digest]`; the scheme defaults to https and
// `http://` means plain HTTP. Every problem is reported with its file:line:col, all at once.
import { parseSource } from '../config/source.js';
import { ArborError, type Diagnostic, error, type SourceLocation, warning } from '../errors.js';
import { digestProblem, registryProblem, repositoryProblem, tagProblem } from '../registry/reference.js';

export interface RecipeImage {
  /** The line as written. */
  input: string;
  scheme: 'http' | 'https';
  registry: string;
  repository: string;
  tag?: string;
  /** A tag with `*`: every tag of the repository that matches. */
  tagPattern?: string;
  digest?: string;
  loc: SourceLocation;
}

export interface Recipe {
  file: string;
  user?: string;
  cvmfsRepo?: string;
  outputFormat?: string;
  images: RecipeImage[];
  warnings: Diagnostic[];
}

const KEYS = ['version', 'user', 'cvmfs_repo', 'output_format', 'input'];
const VARIABLES = ['scheme', 'registry', 'repository', 'digest', 'tag', 'reference', 'image'];
/** Hosts that are Docker Hub, where a one-component repository lives under library/. */
export const DOCKER_HUB_HOSTS = [
  'docker.io',
  'index.docker.io',
  'registry.hub.docker.com',
  'registry-1.docker.io',
];

export type ParsedImage = Omit<RecipeImage, 'loc' | 'input'>;

/** One input line, or why it is not an image reference. */
export function parseRecipeImage(input: string): ParsedImage | string {
  let rest = input.trim();
  let scheme: 'http' | 'https' = 'https';
  const schemeMatch = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(rest);
  if (schemeMatch) {
    const s = schemeMatch[1]!.toLowerCase();
    if (s !== 'http' && s !== 'https') return `scheme "${s}" is not http or https`;
    scheme = s;
    rest = rest.slice(schemeMatch[0].length);
  }
  const slash = rest.indexOf('/');
  if (slash <= 0) return 'expected registry/repository[:tag][@digest]';
  const registry = rest.slice(0, slash);
  const registryIssue = registryProblem(registry);
  if (registryIssue) return registryIssue;
  let path = rest.slice(slash + 1).replace(/\/+$/, '');
  let digest: string | undefined;
  const at = path.indexOf('@');
  if (at >= 0) {
    digest = path.slice(at + 1);
    path = path.slice(0, at);
    const problem = digestProblem(digest);
    if (problem) return problem;
  }
  let tag: string | undefined;
  let tagPattern: string | undefined;
  const colon = path.indexOf(':', path.lastIndexOf('/') + 1);
  if (colon >= 0) {
    const t = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (t.includes('*')) {
      if (digest) return 'a tag pattern cannot be combined with a digest';
      const problem = tagProblem(t.replaceAll('*', 'x'));
      if (problem) return problem;
      tagPattern = t;
    } else {
      const problem = tagProblem(t);
      if (problem) return problem;
      tag = t;
    }
  }
  if (DOCKER_HUB_HOSTS.includes(registry) && path !== '' && !path.includes('/')) path = `library/${path}`;
  const repositoryIssue = repositoryProblem(path);
  if (repositoryIssue) return repositoryIssue;
  if (tag === undefined && tagPattern === undefined && digest === undefined) tag = 'latest';
  return {
    scheme,
    registry,
    repository: path,
    ...(tag !== undefined ? { tag } : {}),
    ...(tagPattern !== undefined ? { tagPattern } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/** A tag pattern as DUCC's glob: `*` matches any run of characters, nothing else is special. */
export function tagMatcher(pattern: string): (tag: string) => boolean {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  const re = new RegExp(`^${source}$`);
  return (tag) => re.test(tag);
}

/** DUCC's output_format with an image's parts substituted (what DUCC names the thin image). */
export function formatOutputName(
  format: string,
  image: { scheme: string; registry: string; repository: string; tag?: string; digest?: string },
): string {
  const reference =
    image.tag !== undefined && image.digest
      ? `:${image.tag}@${image.digest}`
      : image.tag !== undefined
        ? `:${image.tag}`
        : `@${image.digest}`;
  const values: Record<string, string> = {
    scheme: image.scheme,
    registry: image.registry,
    repository: image.repository,
    digest: image.digest ?? '',
    tag: image.tag ?? '',
    reference,
    image: `${image.repository}${reference}`,
  };
  return format.replace(/\$\(([a-z]+)\)/g, (whole, name: string) => values[name] ?? whole);
}

export function parseRecipe(text: string, displayFile: string): Recipe {
  const source = parseSource(text, displayFile);
  const diagnostics: Diagnostic[] = [...source.diagnostics];
  const data = source.data as Record<string, unknown> | undefined;
  if (diagnostics.some((d) => d.severity === 'error')) throw new ArborError(diagnostics);
  if (typeof data !== 'object' || data === null || Array.isArray(data))
    throw new ArborError([error('a recipe is a mapping with version, input, …', { loc: source.locate([]) })]);
  for (const key of source.keysAt([]))
    if (!KEYS.includes(key))
      diagnostics.push(
        warning(`unknown key "${key}" (DUCC recipe v1 has ${KEYS.join(', ')})`, {
          loc: source.locateKey([key]),
        }),
      );
  if (data.version !== 1)
    diagnostics.push(
      error(`version must be 1 (DUCC recipe v1), not ${JSON.stringify(data.version ?? null)}`, {
        loc: source.locate(data.version === undefined ? [] : ['version']),
      }),
    );
  for (const key of ['user', 'cvmfs_repo', 'output_format'])
    if (data[key] !== undefined && typeof data[key] !== 'string')
      diagnostics.push(error(`${key} must be a string`, { loc: source.locate([key]) }));
  const outputFormat = typeof data.output_format === 'string' ? data.output_format : undefined;
  if (outputFormat)
    for (const match of outputFormat.matchAll(/\$\(([^)]*)\)/g))
      if (!VARIABLES.includes(match[1]!))
        diagnostics.push(
          error(
            `output_format: unknown variable $(${match[1]}) (known: ${VARIABLES.map((v) => `$(${v})`).join(' ')})`,
            {
              loc: source.locate(['output_format']),
            },
          ),
        );
  const images: RecipeImage[] = [];
  if (!Array.isArray(data.input) || data.input.length === 0) {
    diagnostics.push(
      error('input must be a non-empty list of images', {
        loc: source.locate(data.input === undefined ? [] : ['input']),
      }),
    );
  } else {
    data.input.forEach((item, i) => {
      const loc = source.locate(['input', i]);
      if (typeof item !== 'string') {
        diagnostics.push(error('an input is an image reference (a string)', { loc }));
        return;
      }
      const parsed = parseRecipeImage(item);
      if (typeof parsed === 'string') diagnostics.push(error(`invalid image "${item}": ${parsed}`, { loc }));
      else images.push({ ...parsed, input: item, loc });
    });
  }
  if (diagnostics.some((d) => d.severity === 'error')) throw new ArborError(diagnostics);
  return {
    file: displayFile,
    ...(typeof data.user === 'string' ? { user: data.user } : {}),
    ...(typeof data.cvmfs_repo === 'string' ? { cvmfsRepo: data.cvmfs_repo } : {}),
    ...(outputFormat ? { outputFormat } : {}),
    images,
    warnings: diagnostics,
  };
}
