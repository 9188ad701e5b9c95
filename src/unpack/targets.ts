// What to unpack, as a list of image references whatever named them: the tree's images
// (images.yaml, at a tag or each at its first tag), a DUCC recipe, or references on the command
// line. A release record plugs in here as one more source of references.
import { resolve } from 'node:path';
import { repositoryPath } from '../config/repository.js';
import { formatLocation } from '../errors.js';
import { computeDesired, loadTree } from '../plan/desired.js';
import { parseReference } from '../registry/reference.js';
import { DOCKER_HUB_HOSTS, type Recipe } from './recipe.js';

export interface UnpackTarget {
  /** Where the reference came from, for messages: `images.yaml: image keystone`, `recipe.yaml:7:5`. */
  origin: string;
  /** `host[:port]` as the output path shows it. */
  registry: string;
  /** The host the client talks to (Docker Hub's aliases all answer as docker.io). */
  endpoint: string;
  insecure: boolean;
  caFile?: string;
  repository: string;
  tag?: string;
  /** A tag with `*` (recipes): expanded against the registry's tag list. */
  tagPattern?: string;
  digest?: string;
  /** A recipe's output_format: names the thin image DUCC would push (recorded, not pushed). */
  outputFormat?: string;
  /** Tree images without `--tag`: every tag images.yaml wants, and the fingerprint tag (immutable content). */
  wanted?: { tags: string[]; fingerprintTag: string };
}

function endpointOf(registry: string): string {
  return DOCKER_HUB_HOSTS.includes(registry) ? 'docker.io' : registry;
}

export interface TreeSelection {
  file: string;
  only?: string[];
  /** Every image at this tag; default each image's first tag (its fingerprint tag when it has none). */
  tag?: string;
  /** Every image of this release record, pinned by digest (named by the release's tag). */
  release?: string;
}

/** The tree's images as they are in its registry. */
export async function treeTargets(selection: TreeSelection): Promise<UnpackTarget[]> {
  const tree = await loadTree(selection.file);
  const { config, graph } = tree;
  // --only names images exactly: unpacking one needs no ancestor (select() adds them; keep only the named).
  const names =
    selection.only && selection.only.length > 0
      ? graph.select(selection.only).filter((n) => selection.only!.includes(n))
      : graph.topologicalOrder();
  const base = {
    registry: config.registry.url,
    endpoint: config.registry.url,
    insecure: config.registry.insecure,
    ...(config.registry.caFile ? { caFile: resolve(config.root, config.registry.caFile) } : {}),
  };
  const origin = (name: string) => `${selection.file}: image ${name}`;
  if (selection.release !== undefined) {
    const { RegistryClients } = await import('../plan/clients.js');
    const { treeRelease } = await import('../release/of-tree.js');
    const clients = new RegistryClients(config);
    try {
      const record = await treeRelease(clients.home, config, selection.release);
      return record.images
        .filter((image) => names.includes(image.name))
        .map((image) => ({
          ...base,
          origin: `release ${record.release}: image ${image.name}`,
          repository: image.repository,
          tag: image.tags.includes(record.release) ? record.release : (image.tags[0] ?? image.fingerprintTag),
          digest: image.digest,
        }));
    } finally {
      await clients.close();
    }
  }
  if (selection.tag !== undefined) {
    const tag = selection.tag;
    return names.map((name) => ({
      ...base,
      origin: origin(name),
      repository: repositoryPath(config, name),
      tag,
    }));
  }
  // Tag templates may use the fingerprint: compute it as plan does (no registry needed unless an
  // external base must be resolved).
  let clients: import('../plan/clients.js').RegistryClients | undefined;
  try {
    const desired = await computeDesired({
      tree,
      only: names,
      resolveBase: async (ref) => {
        clients ??= new (await import('../plan/clients.js')).RegistryClients(config);
        return clients.resolveBase(ref);
      },
    });
    return names.map((name) => {
      const image = desired.images.get(name)!;
      return {
        ...base,
        origin: origin(name),
        repository: image.repositoryPath,
        tag: image.tags[0] ?? image.fingerprintTag,
        wanted: { tags: image.tags, fingerprintTag: image.fingerprintTag },
      };
    });
  } finally {
    await clients?.close();
  }
}

export function recipeTargets(recipe: Recipe, options: { caFile?: string } = {}): UnpackTarget[] {
  return recipe.images.map((image) => ({
    origin: formatLocation(image.loc),
    registry: image.registry,
    endpoint: endpointOf(image.registry),
    insecure: image.scheme === 'http',
    ...(options.caFile ? { caFile: options.caFile } : {}),
    repository: image.repository,
    ...(image.tag !== undefined ? { tag: image.tag } : {}),
    ...(image.tagPattern !== undefined ? { tagPattern: image.tagPattern } : {}),
    ...(image.digest !== undefined ? { digest: image.digest } : {}),
    ...(recipe.outputFormat ? { outputFormat: recipe.outputFormat } : {}),
  }));
}

/** References from the command line (`registry/repository[:tag][@digest]`). */
export function referenceTargets(
  refs: string[],
  options: { insecure?: boolean; caFile?: string },
): UnpackTarget[] {
  return refs.map((input) => {
    const ref = parseReference(input);
    return {
      origin: input,
      registry: ref.registry,
      endpoint: endpointOf(ref.registry),
      insecure: options.insecure ?? false,
      ...(options.caFile ? { caFile: options.caFile } : {}),
      repository: ref.repository,
      ...(ref.tag !== undefined || !ref.digest ? { tag: ref.tag ?? 'latest' } : {}),
      ...(ref.digest ? { digest: ref.digest } : {}),
    };
  });
}
