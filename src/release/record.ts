// The release record: one consistent state of the whole tree — every image's repository, manifest
// digest, fingerprint and tags — as one document. apply writes it when it changes the tree; one
// reference (`<namespace>/arbor-releases:<release>`) then names the release that sync, promote,
// bundle and verify act on. Pure: building, serializing and reading records.
import { RegistryError } from '../registry/errors.js';

export const RELEASE_ARTIFACT_TYPE = 'application/vnd.arbor.release.v1+json';
export const RELEASE_FORMAT_VERSION = 1;
/** Annotations on the record's manifest, so listing releases needs no blob. */
export const ANNOTATION_RELEASE = 'org.arbor.release';
export const ANNOTATION_IMAGES = 'org.arbor.release.images';
export const ANNOTATION_CREATED = 'org.opencontainers.image.created';

export interface ReleaseImage {
  /** The image's name in images.yaml. */
  name: string;
  /** Path in the registry (`namespace/name`). */
  repository: string;
  digest: string;
  mediaType: string;
  size: number;
  fingerprint: string;
  fingerprintTag: string;
  /** Human tags (without the fingerprint tag), as they were flipped. */
  tags: string[];
}

export interface ReleaseRecord {
  formatVersion: typeof RELEASE_FORMAT_VERSION;
  /** The release's name, also the record's tag. */
  release: string;
  created: string;
  /** Where the images are: `host[:port]`. */
  registry: string;
  namespace: string;
  configDigest: string;
  git?: { commit?: string; branch?: string };
  /** Every image of the tree, in topological order (parents first). */
  images: ReleaseImage[];
}

/** Where an image of a release lives under `namespace` of another registry: `ns/name`, or `name`. */
export function repositoryIn(namespace: string, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/**
 * The release as another registry holds it once copied there (promote, sync, bundle push): the
 * same images and digests, that registry's namespace and repositories.
 */
export function recordIn(record: ReleaseRecord, registry: string, namespace: string): ReleaseRecord {
  return {
    ...record,
    registry,
    namespace,
    images: record.images.map((image) => ({ ...image, repository: repositoryIn(namespace, image.name) })),
  };
}

export function serializeRecord(record: ReleaseRecord): Buffer {
  // Stable key order: the same release gives the same bytes (and digest) whoever writes it.
  return Buffer.from(
    JSON.stringify({
      formatVersion: record.formatVersion,
      release: record.release,
      created: record.created,
      registry: record.registry,
      namespace: record.namespace,
      configDigest: record.configDigest,
      ...(record.git ? { git: record.git } : {}),
      images: record.images.map((i) => ({
        name: i.name,
        repository: i.repository,
        digest: i.digest,
        mediaType: i.mediaType,
        size: i.size,
        fingerprint: i.fingerprint,
        fingerprintTag: i.fingerprintTag,
        tags: i.tags,
      })),
    }),
  );
}

/** Reads a record's bytes, checking its shape; `reference` names it in errors. */
export function parseRecord(bytes: Buffer, reference: string): ReleaseRecord {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new RegistryError(reference, `release record is not JSON (${(e as Error).message})`);
  }
  const bad = (why: string) => new RegistryError(reference, `malformed release record: ${why}`);
  const r = json as Partial<ReleaseRecord>;
  if (typeof r !== 'object' || r === null) throw bad('not an object');
  if (r.formatVersion !== RELEASE_FORMAT_VERSION)
    throw bad(
      `formatVersion ${JSON.stringify(r.formatVersion)} (this arbor reads ${RELEASE_FORMAT_VERSION})`,
    );
  for (const key of ['release', 'created', 'registry', 'namespace', 'configDigest'] as const)
    if (typeof r[key] !== 'string') throw bad(`${key} is missing`);
  if (!Array.isArray(r.images)) throw bad('images is missing');
  r.images.forEach((image, i) => {
    const ok =
      image &&
      typeof image.name === 'string' &&
      typeof image.repository === 'string' &&
      /^sha256:[0-9a-f]{64}$/.test(image.digest) &&
      typeof image.mediaType === 'string' &&
      Number.isInteger(image.size) &&
      typeof image.fingerprint === 'string' &&
      typeof image.fingerprintTag === 'string' &&
      Array.isArray(image.tags) &&
      image.tags.every((t) => typeof t === 'string');
    if (!ok) throw bad(`image ${i} is malformed`);
  });
  return r as ReleaseRecord;
}

/** Two records name the same release content (same images at the same digests and tags). */
export function sameContent(a: ReleaseRecord, b: ReleaseRecord): boolean {
  const key = (r: ReleaseRecord) =>
    JSON.stringify(r.images.map((i) => [i.name, i.repository, i.digest, i.tags]));
  return a.release === b.release && key(a) === key(b);
}
