// Desired state: everything arbor wants to exist, computed without the registry (except to
// resolve external `from` references to digests). config → graph → selection → render →
// fingerprint → tags, in that order; each step reports every problem before the next runs.
import { join, resolve } from 'node:path';
import type { Config, ImageConfig } from '../config/model.js';
import { fingerprintTag, repositoryOf, repositoryPath } from '../config/repository.js';
import { ArborError, type Diagnostic, mergeRepeats, sortByLocation, throwIfErrors } from '../errors.js';
import { FileHashCache } from '../fingerprint/cache.js';
import { type FingerprintedImage, fingerprintImages } from '../fingerprint/compute.js';
import type { ContextFile } from '../fingerprint/context.js';
import type { FingerprintInput } from '../fingerprint/model.js';
import type { ImageGraph } from '../graph/graph.js';
import { loadImageGraph } from '../graph/load.js';
import type { GitInfo } from '../render/git.js';
import { createRenderer, prepareRenderer } from '../render/render.js';
import { renderImagesTags, renderReleaseName } from '../render/tags.js';

export interface DesiredImage {
  name: string;
  config: ImageConfig;
  /** `host/namespace/name` */
  repository: string;
  /** `namespace/name`: the path inside the registry. */
  repositoryPath: string;
  parent: string | null;
  fingerprint: string;
  fingerprintTag: string;
  /** Rendered tag templates, without the fingerprint tag. */
  tags: string[];
  /** The rendered Dockerfile. */
  dockerfile: string;
  /** What the Dockerfile builds FROM. */
  parentRef: string | null;
  inputs: FingerprintInput[];
  context: ContextFile[];
  /** Absolute context directory, or null for an empty context. */
  contextDir: string | null;
}

export interface DesiredState {
  config: Config;
  graph: ImageGraph;
  /** The selected images (with ancestors) in topological order. */
  order: string[];
  images: Map<string, DesiredImage>;
  /** The release's name (`releases.tag` rendered), when tags were rendered. */
  releaseName?: string;
}

export interface Tree {
  config: Config;
  graph: ImageGraph;
}

/** What tag templates see as the fingerprint of an image whose fingerprint could not be computed. */
const STAND_IN_FINGERPRINT = `sha256:${'0'.repeat(64)}`;

export interface DesiredOptions {
  tree: Tree;
  only?: string[];
  withDescendants?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Digest of an external base; the registry-backed default lives in plan/resolve-base.ts. */
  resolveBase?: (ref: string) => Promise<string>;
  /** Skip tag templates (fingerprint/render need no git or env for tags). */
  skipTags?: boolean;
}

/** Config and graph, every problem of both reported at once. */
export function loadTree(file: string): Promise<Tree> {
  return loadImageGraph(resolve(file));
}

export async function computeDesired(options: DesiredOptions): Promise<DesiredState> {
  const env = options.env ?? process.env;
  const { config, graph } = options.tree;
  const order =
    options.only && options.only.length > 0
      ? graph.select(options.only, { withDescendants: options.withDescendants ?? false })
      : graph.topologicalOrder();

  // git runs as child processes: start it now so it overlaps the hashing below instead of
  // adding its start-up to every plan (readGitInfo never rejects).
  // Loaded on demand: commands without tags (fingerprint, render) never start git or load execa.
  const gitInfo = options.skipTags
    ? undefined
    : import('../render/git.js').then((git) => git.readGitInfo(config.root));
  await prepareRenderer(config);
  const renderer = createRenderer(config);
  const cache = await FileHashCache.load(join(config.root, '.arbor', 'cache', 'file-hashes.json'));
  // Every problem of every step is reported in one run: when fingerprinting fails (a template,
  // a context), the tag templates are still checked, with a stand-in fingerprint.
  const problems: Diagnostic[] = [];
  let fingerprinted = new Map<string, FingerprintedImage>();
  try {
    fingerprinted = await fingerprintImages({
      config,
      order,
      renderDockerfile: (image, parentRef) => renderer.renderDockerfile(image, parentRef),
      resolveBase:
        options.resolveBase ??
        (async (ref) => {
          throw new ArborError(
            `external base "${ref}" must be resolved through its registry (run arbor plan)`,
          );
        }),
      env,
      cache,
    });
  } catch (e) {
    if (!(e instanceof ArborError)) throw e;
    problems.push(...e.diagnostics);
  }
  // A selection, or a run that stopped early, hashes only part of the tree: keep the other entries.
  await cache.save({ prune: order.length === graph.size && problems.length === 0 });

  const git = await gitInfo;
  const rendered = git
    ? renderImagesTags(
        config,
        order.map((name) => {
          const fp = fingerprinted.get(name);
          const fingerprint = fp?.fingerprint ?? STAND_IN_FINGERPRINT;
          return {
            image: graph.image(name),
            ctx: {
              fingerprint,
              fingerprintTag: fp?.fingerprintTag ?? fingerprintTag(config, fingerprint),
              git,
              env,
            },
          };
        }),
      )
    : undefined;
  problems.push(...(rendered?.diagnostics ?? []));
  const release = git ? renderRelease(options.tree, order, fingerprinted, git, env) : undefined;
  problems.push(...(release?.problems ?? []));
  throwIfErrors(sortByLocation(mergeRepeats(problems)));

  const images = new Map<string, DesiredImage>();
  for (const name of order) {
    const image = graph.image(name);
    const fp = fingerprinted.get(name);
    if (!fp) throw new Error(`internal: no fingerprint for ${name}`);
    const tags = rendered?.tags.get(name) ?? [];
    images.set(name, {
      name,
      config: image,
      repository: repositoryOf(config, name),
      repositoryPath: repositoryPath(config, name),
      parent: image.parent ?? null,
      fingerprint: fp.fingerprint,
      fingerprintTag: fp.fingerprintTag,
      tags: tags.filter((t) => t !== fp.fingerprintTag),
      dockerfile: fp.dockerfile,
      parentRef: fp.parentRef,
      inputs: fp.inputs,
      context: fp.context,
      contextDir: image.context ? resolve(config.root, image.context) : null,
    });
  }
  return { config, graph, order, images, ...(release?.name ? { releaseName: release.name } : {}) };
}

/**
 * The release's name (`releases.tag`) rendered now, as apply will after its flip (plan then asks
 * whether its record exists), and so that a template that fails or gives an invalid tag stops the
 * plan before anything is pushed. Its problems are left out when some image renders the same
 * template as one of its own tags: they were reported with those.
 */
function renderRelease(
  tree: Tree,
  order: string[],
  fingerprinted: Map<string, FingerprintedImage>,
  git: GitInfo,
  env: NodeJS.ProcessEnv,
): { name?: string; problems: Diagnostic[] } {
  const { config, graph } = tree;
  if (order.length === 0) return { problems: [] };
  const first = order[0]!;
  const fingerprint = fingerprinted.get(first)?.fingerprint ?? STAND_IN_FINGERPRINT;
  try {
    const name = renderReleaseName(config, graph.image(first), {
      fingerprint,
      fingerprintTag: fingerprinted.get(first)?.fingerprintTag ?? fingerprintTag(config, fingerprint),
      git,
      env,
    });
    return { name, problems: [] };
  } catch (e) {
    if (!(e instanceof ArborError)) throw e;
    const template = config.releases.tag;
    const reported = order.some((n) => (graph.image(n).tags ?? config.tags).includes(template));
    return { problems: reported ? [] : e.diagnostics };
  }
}
