// What goes into a bundle, whatever named it: the tree's images (each at its fingerprint tag,
// carrying every tag images.yaml wants; or all at one `--tag`), references on the command line,
// or a release record. The tree and references come through unpack's target resolution; this
// file only turns its targets into bundle entries (a name under the namespace, the tags carried).
import { resolve } from 'node:path';
import type { Config } from '../config/model.js';
import { ArborError } from '../errors.js';
import { loadTree } from '../plan/desired.js';
import type { RegistryClient } from '../registry/client.js';
import type { ReleaseRecord } from '../release/record.js';
import { readRecord, releasesRepository } from '../release/store.js';
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
  /** The whole release's record (not with --only): carried so `bundle push` records the release at the target. */
  record?: ReleaseRecord;
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

export type ClientFor = (settings: Pick<BundleTarget, 'endpoint' | 'insecure' | 'caFile'>) => RegistryClient;

/** The tree's registry as a client sees it. */
function homeSettings(config: Config): Pick<BundleTarget, 'endpoint' | 'insecure' | 'caFile'> {
  return {
    endpoint: config.registry.url,
    insecure: config.registry.insecure,
    ...(config.registry.caFile ? { caFile: resolve(config.root, config.registry.caFile) } : {}),
  };
}

/** The release record `<namespace>/<releases.repository>:<release>` of the tree's registry, or null. */
async function recordOf(file: string, release: string, clientFor: ClientFor) {
  const { config } = await loadTree(file);
  const client = clientFor(homeSettings(config));
  const repository = releasesRepository(config.registry.namespace, config.releases.repository);
  const stored = await readRecord(client, repository, release);
  return { config, record: stored?.record ?? null, where: `${client.registry}/${repository}:${release}` };
}

/** `--release R`: the images of a release record, each at its digest under its tags and fingerprint tag. */
export async function releaseSelection(
  request: { file: string; release: string; only?: string[] },
  clientFor: ClientFor,
): Promise<BundleSelection> {
  const { config, record, where } = await recordOf(request.file, request.release, clientFor);
  if (!record)
    throw new ArborError(
      `release ${request.release} has no record at ${where} (arbor releases lists them; apply writes one when it changes the tree)`,
    );
  const images = selectFromRecord(record, request.only);
  return {
    source: record.namespace ? `${record.registry}/${record.namespace}` : record.registry,
    release: record.release,
    ...(images.length === record.images.length ? { record } : {}),
    targets: images.map((i) => ({
      ...homeSettings(config),
      origin: `release ${record.release}: image ${i.name}`,
      name: i.name,
      repository: i.repository,
      reference: i.digest,
      tags: [...i.tags, i.fingerprintTag],
    })),
  };
}

function selectFromRecord(record: ReleaseRecord, only?: string[]): ReleaseRecord['images'] {
  if (!only || only.length === 0) return record.images;
  const unknown = only.filter((n) => !record.images.some((i) => i.name === n));
  if (unknown.length > 0)
    throw new ArborError(
      unknown.map((n) => ({
        severity: 'error' as const,
        message: `release ${record.release} has no image ${n} (it has ${record.images.map((i) => i.name).join(', ')})`,
      })),
    );
  return record.images.filter((i) => only.includes(i.name));
}

/**
 * The earlier release of an update bundle: its release record when there is one, else the tree's
 * images at the tag of that name (an image that did not exist then simply has no such tag).
 */
export async function sinceSelection(
  file: string,
  release: string,
  clientFor: ClientFor,
): Promise<{ client: RegistryClient; repository: string; reference: string }[]> {
  const { config, record } = await recordOf(file, release, clientFor);
  if (record) {
    const client = clientFor(homeSettings(config));
    return record.images.map((i) => ({ client, repository: i.repository, reference: i.digest }));
  }
  return (await treeSelection({ file, tag: release })).targets.map((t) => ({
    client: clientFor(t),
    repository: t.repository,
    reference: t.reference,
  }));
}
