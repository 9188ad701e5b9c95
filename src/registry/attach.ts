// Attaching an artifact to an image (a signature, an SBOM, a provenance statement, a layer delta):
// an OCI 1.1 manifest whose `subject` is the image. A registry with the referrers API indexes it
// itself (it answers the PUT with `OCI-Subject`); on one without it (distribution 2.8) the
// artifact is also listed in the index under the fallback tag `sha256-<hex of the subject>`
// (OCI distribution spec, "Pushing Manifests with Subject"), read-modify-write. That index has no
// compare-and-swap: within one arbor process updates of one subject's index are serialized, and
// after writing it is read back and the write repeated while the entry is missing (another
// process's concurrent update), a few times. Two processes can still lose an entry when their
// writes interleave within one read-write round trip; a later attach of the same artifact lists it
// again (attaching is idempotent).
import type { RegistryClient } from './client.js';
import { describeRef } from './context.js';
import { digestOf, referrersTag } from './digest.js';
import { RegistryError, unlessNotFound } from './errors.js';
import { putManifestAnswer } from './manifest.js';
import { type Descriptor, type IndexJson, isIndex } from './manifest-model.js';
import { OCI_INDEX, OCI_MANIFEST } from './media-types.js';

/** The OCI empty descriptor's media type and content (`{}`), used as the config of artifacts. */
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
const EMPTY_BYTES = Buffer.from('{}');

export interface ArtifactBlob {
  mediaType: string;
  bytes: Buffer;
  annotations?: Record<string, string>;
}

/** A blob the caller already uploaded to the repository (too big to hold in memory, e.g. a layer delta). */
export interface UploadedArtifactBlob {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

function isUploaded(blob: ArtifactBlob | UploadedArtifactBlob): blob is UploadedArtifactBlob {
  return !('bytes' in blob);
}

export interface ArtifactSpec {
  artifactType: string;
  /** The image (or index) the artifact is about. */
  subject: Descriptor;
  blobs: (ArtifactBlob | UploadedArtifactBlob)[];
  /** Defaults to the empty config. */
  config?: ArtifactBlob;
  annotations?: Record<string, string>;
}

export interface AttachedArtifact {
  digest: string;
  /** As listed among the subject's referrers. */
  descriptor: Descriptor;
  /** How the subject's referrers list learned about it. */
  via: 'referrers-api' | 'tag-schema';
}

/** The manifest bytes of an artifact, deterministic for the same spec (keys in a fixed order). */
export function artifactManifest(spec: ArtifactSpec): { bytes: Buffer; json: Record<string, unknown> } {
  const config = spec.config ?? { mediaType: OCI_EMPTY, bytes: EMPTY_BYTES };
  const describe = (blob: ArtifactBlob | UploadedArtifactBlob): Descriptor => ({
    mediaType: blob.mediaType,
    digest: isUploaded(blob) ? blob.digest : digestOf(blob.bytes),
    size: isUploaded(blob) ? blob.size : blob.bytes.length,
    ...(blob.annotations ? { annotations: blob.annotations } : {}),
  });
  const json = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: spec.artifactType,
    config: describe(config),
    layers: spec.blobs.map(describe),
    subject: {
      mediaType: spec.subject.mediaType,
      digest: spec.subject.digest,
      size: spec.subject.size,
    },
    ...(spec.annotations ? { annotations: spec.annotations } : {}),
  };
  return { bytes: Buffer.from(JSON.stringify(json)), json };
}

/** Uploads the artifact's blobs (those missing), its manifest by digest, and lists it as a referrer. */
export async function attachArtifact(
  client: RegistryClient,
  repository: string,
  spec: ArtifactSpec,
): Promise<AttachedArtifact> {
  const blobs = [spec.config ?? { mediaType: OCI_EMPTY, bytes: EMPTY_BYTES }, ...spec.blobs];
  await Promise.all(
    blobs.map(async (blob) => {
      const digest = isUploaded(blob) ? blob.digest : digestOf(blob.bytes);
      if (await client.headBlob(repository, digest)) return;
      if (isUploaded(blob))
        throw new RegistryError(
          describeRef(client.registry, repository, digest),
          'artifact blob is not in the repository',
        );
      await client.uploadBlob(repository, digest, blob.bytes, blob.bytes.length);
    }),
  );
  const { bytes } = artifactManifest(spec);
  const digest = digestOf(bytes);
  const descriptor: Descriptor = {
    mediaType: OCI_MANIFEST,
    digest,
    size: bytes.length,
    artifactType: spec.artifactType,
    ...(spec.annotations ? { annotations: spec.annotations } : {}),
  };
  const { subjectIndexed: indexed } = await putManifestAnswer(
    client.context,
    repository,
    digest,
    bytes,
    OCI_MANIFEST,
  );
  if (indexed) return { digest, descriptor, via: 'referrers-api' };
  await addToFallbackIndex(client, repository, spec.subject.digest, descriptor);
  return { digest, descriptor, via: 'tag-schema' };
}

const FALLBACK_ATTEMPTS = 5;

/** Per client, per `repository@subject`: the update of that fallback index in progress. */
const indexLocks = new WeakMap<RegistryClient, Map<string, Promise<void>>>();

function serialized(client: RegistryClient, key: string, work: () => Promise<void>): Promise<void> {
  const locks = indexLocks.get(client) ?? new Map<string, Promise<void>>();
  indexLocks.set(client, locks);
  const previous = locks.get(key) ?? Promise.resolve();
  const next = previous.then(work, work);
  const settled = next.catch(() => undefined);
  locks.set(key, settled);
  void settled.then(() => {
    if (locks.get(key) === settled) locks.delete(key);
  });
  return next;
}

/** Adds `descriptor` to the index under the subject's fallback tag, and checks it stayed there. */
export async function addToFallbackIndex(
  client: RegistryClient,
  repository: string,
  subject: string,
  descriptor: Descriptor,
): Promise<void> {
  return serialized(client, `${repository}@${subject}`, () =>
    updateFallbackIndex(client, repository, subject, descriptor),
  );
}

async function updateFallbackIndex(
  client: RegistryClient,
  repository: string,
  subject: string,
  descriptor: Descriptor,
): Promise<void> {
  const tag = referrersTag(subject);
  for (let attempt = 0; attempt < FALLBACK_ATTEMPTS; attempt++) {
    const current = await unlessNotFound(client.getManifest(repository, tag), null);
    const index: IndexJson =
      current && isIndex(current.json)
        ? (current.json as IndexJson)
        : { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
    if (index.manifests.some((d) => d.digest === descriptor.digest)) return;
    const next: IndexJson = { ...index, mediaType: OCI_INDEX, manifests: [...index.manifests, descriptor] };
    await client.putManifest(repository, tag, Buffer.from(JSON.stringify(next)), OCI_INDEX);
    // Another writer may have replaced the index between our read and write: look again.
    const after = await client.getManifest(repository, tag);
    if (isIndex(after.json) && after.json.manifests.some((d) => d.digest === descriptor.digest)) return;
  }
  throw new RegistryError(
    describeRef(client.registry, repository, tag),
    `could not list ${descriptor.digest} in the referrers index: it kept being replaced by other writers`,
  );
}
