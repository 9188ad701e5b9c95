// Release records in the registry: an OCI artifact (config: the empty descriptor; one blob: the
// record) tagged with the release's name in `<namespace>/<releases.repository>`. The manifest's
// annotations carry the name, creation time and image count, so `arbor releases` lists them with
// one manifest read each and no blob.
import type { RegistryClient } from '../registry/client.js';
import { digestOf } from '../registry/digest.js';
import { RegistryError, unlessNotFound } from '../registry/errors.js';
import { isIndex, type Manifest } from '../registry/manifest-model.js';
import { OCI_MANIFEST } from '../registry/media-types.js';
import {
  ANNOTATION_CREATED,
  ANNOTATION_IMAGES,
  ANNOTATION_RELEASE,
  parseRecord,
  RELEASE_ARTIFACT_TYPE,
  type ReleaseRecord,
  serializeRecord,
} from './record.js';

const EMPTY = Buffer.from('{}');
const EMPTY_TYPE = 'application/vnd.oci.empty.v1+json';
const RECORD_LIMIT = 32 * 1024 * 1024;

export function releasesRepository(namespace: string, repository: string): string {
  return namespace ? `${namespace}/${repository}` : repository;
}

export interface StoredRecord {
  digest: string;
  manifest: Buffer;
  record: ReleaseRecord;
}

/** The manifest of a record (deterministic for the same record). */
export function recordManifest(record: ReleaseRecord): { bytes: Buffer; blob: Buffer } {
  const blob = serializeRecord(record);
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: RELEASE_ARTIFACT_TYPE,
      config: { mediaType: EMPTY_TYPE, digest: digestOf(EMPTY), size: EMPTY.length },
      layers: [{ mediaType: RELEASE_ARTIFACT_TYPE, digest: digestOf(blob), size: blob.length }],
      annotations: {
        [ANNOTATION_CREATED]: record.created,
        [ANNOTATION_RELEASE]: record.release,
        [ANNOTATION_IMAGES]: String(record.images.length),
      },
    }),
  );
  return { bytes, blob };
}

/** Uploads the record (blobs missing, manifest) and tags it with its release name. Returns the digest. */
export async function writeRecord(
  client: RegistryClient,
  repository: string,
  record: ReleaseRecord,
): Promise<string> {
  return tagRecord(client, await stageRecord(client, repository, record));
}

export interface StagedRecord {
  repository: string;
  release: string;
  digest: string;
  bytes: Buffer;
}

/**
 * The record's blobs and manifest, by digest and untagged: invisible until tagRecord, so a writer
 * stages it beside other work and leaves only the tag PUT for after its flip.
 */
export async function stageRecord(
  client: RegistryClient,
  repository: string,
  record: ReleaseRecord,
): Promise<StagedRecord> {
  const { bytes, blob } = recordManifest(record);
  await Promise.all(
    [EMPTY, blob].map(async (part) => {
      const digest = digestOf(part);
      if (!(await client.headBlob(repository, digest)))
        await client.uploadBlob(repository, digest, part, part.length);
    }),
  );
  const digest = digestOf(bytes);
  await client.putManifest(repository, digest, bytes, OCI_MANIFEST);
  return { repository, release: record.release, digest, bytes };
}

/** Names a staged record by its release (one manifest PUT). Returns the digest. */
export async function tagRecord(client: RegistryClient, staged: StagedRecord): Promise<string> {
  await client.putManifest(staged.repository, staged.release, staged.bytes, OCI_MANIFEST);
  return staged.digest;
}

/** The record a release tag (or digest) names, or null when there is none. */
export async function readRecord(
  client: RegistryClient,
  repository: string,
  reference: string,
): Promise<StoredRecord | null> {
  const manifest = await unlessNotFound(client.getManifest(repository, reference), null);
  return manifest && recordOf(client, repository, reference, manifest);
}

/** The record a manifest already read stands for: its blob, read and checked against its digest. */
export async function recordOf(
  client: RegistryClient,
  repository: string,
  reference: string,
  manifest: Manifest,
): Promise<StoredRecord> {
  const where = `${client.registry}/${repository}:${reference}`;
  const json = manifest.json;
  if (
    isIndex(json) ||
    json.artifactType !== RELEASE_ARTIFACT_TYPE ||
    json.layers[0]?.mediaType !== RELEASE_ARTIFACT_TYPE
  )
    throw new RegistryError(where, 'not an arbor release record');
  const layer = json.layers[0]!;
  if (layer.size > RECORD_LIMIT)
    throw new RegistryError(where, `release record larger than ${RECORD_LIMIT} bytes`);
  const { bytes } = await client.getBlob(repository, layer.digest, { buffer: RECORD_LIMIT });
  if (!bytes || digestOf(bytes) !== layer.digest)
    throw new RegistryError(where, 'release record does not match its digest');
  return { digest: manifest.digest, manifest: manifest.bytes, record: parseRecord(bytes, where) };
}

export interface ReleaseSummary {
  release: string;
  digest: string;
  created: string;
  images: number;
}

/** Every release in the repository, newest first, from the manifests' annotations. */
export async function listReleases(client: RegistryClient, repository: string): Promise<ReleaseSummary[]> {
  return (await listReleaseManifests(client, repository)).map((r) => r.summary);
}

/** A release as listed, with the record manifest its summary was read from (for {@link recordOf}). */
export interface ListedRelease {
  summary: ReleaseSummary;
  manifest: Manifest;
}

/** {@link listReleases}, keeping each record's manifest: its record is then one blob GET away. */
export async function listReleaseManifests(
  client: RegistryClient,
  repository: string,
): Promise<ListedRelease[]> {
  const tags = await unlessNotFound(client.listTags(repository), [] as string[]);
  const listed = await Promise.all(
    tags
      .filter((t) => !/^sha256-[0-9a-f]{64}/.test(t))
      .map(async (tag): Promise<ListedRelease | null> => {
        const manifest = await unlessNotFound(client.getManifest(repository, tag), null);
        if (!manifest || isIndex(manifest.json) || manifest.json.artifactType !== RELEASE_ARTIFACT_TYPE)
          return null;
        const a = manifest.json.annotations ?? {};
        const summary = {
          release: tag,
          digest: manifest.digest,
          created: a[ANNOTATION_CREATED] ?? '',
          images: Number(a[ANNOTATION_IMAGES] ?? Number.NaN),
        };
        return { summary, manifest };
      }),
  );
  return listed
    .filter((r): r is ListedRelease => r !== null)
    .sort(
      (a, b) =>
        b.summary.created.localeCompare(a.summary.created) ||
        a.summary.release.localeCompare(b.summary.release),
    );
}
