// What goes into a bundle, whatever named it: the tree's images (each at its fingerprint tag,
// carrying every tag images.yaml wants; or all at one `--tag`), references on the command line,
// or a release record. The tree and references come through unpack's target resolution; this
// file only turns its targets into bundle entries (a name under the namespace, the tags carried).
import { loadTree } from '../plan/desired.js';
import { referenceTargets, treeTargets, type UnpackTarget } from '../unpack/targets.js';

/** One image to read, before a registry client is attached. */
export interface BundleTarget {
  origin: string;
  /** Path under the bundle's namespace. */
  name: string;
  /** Client settings. */
  endpoint: string;
  insecure: boolean;
  caFile?: string;
  repository: string;
  /** Tag or digest to read. */
  reference: string;
  tags: string[];
}

export interface BundleSelection {
  targets: BundleTarget[];
  /** `registry/namespace` (or the registries of the references), for the table of contents. */
  source: string;
  release?: string;
}

export interface TreeRequest {
  file: string;
  only?: string[];
  tag?: string;
}

export async function treeSelection(request: TreeRequest): Promise<BundleSelection> {
  const { config } = await loadTree(request.file);
  const namespace = config.registry.namespace;
  const targets = await treeTargets({
    file: request.file,
    ...(request.only ? { only: request.only } : {}),
    ...(request.tag !== undefined ? { tag: request.tag } : {}),
  });
  return {
    source: namespace ? `${config.registry.url}/${namespace}` : config.registry.url,
    targets: targets.map((t) => {
      const name =
        namespace && t.repository.startsWith(`${namespace}/`)
          ? t.repository.slice(namespace.length + 1)
          : t.repository;
      // Without --tag: the image images.yaml describes now (its fingerprint tag), under every tag it wants.
      const wanted = request.tag === undefined ? t.wanted : undefined;
      return {
        ...clientSettings(t),
        origin: t.origin,
        name,
        repository: t.repository,
        reference: wanted?.fingerprintTag ?? t.tag ?? t.digest!,
        tags: wanted ? [...wanted.tags, wanted.fingerprintTag] : t.tag !== undefined ? [t.tag] : [],
      };
    }),
  };
}

export function referenceSelection(
  refs: string[],
  options: { insecure?: boolean; caFile?: string },
): BundleSelection {
  const targets = referenceTargets(refs, options);
  return {
    source: [...new Set(targets.map((t) => t.registry))].sort().join(', '),
    targets: targets.map((t) => ({
      ...clientSettings(t),
      origin: t.origin,
      name: t.repository,
      repository: t.repository,
      reference: t.digest ?? t.tag!,
      tags: t.tag !== undefined ? [t.tag] : [],
    })),
  };
}

function clientSettings(t: UnpackTarget): Pick<BundleTarget, 'endpoint' | 'insecure' | 'caFile'> {
  return { endpoint: t.endpoint, insecure: t.insecure, ...(t.caFile ? { caFile: t.caFile } : {}) };
}

/**
 * The earlier release of an update bundle, as the tree's images at a tag (every image of the
 * tree: one that did not exist then simply has no such tag).
 */
export async function sinceByTag(file: string, tag: string): Promise<BundleTarget[]> {
  return (await treeSelection({ file, tag })).targets;
}
