// The bundle file format: one tar that is at once an OCI image layout (`oci-layout`,
// `index.json`, `blobs/sha256/…`), a `docker save` archive (`manifest.json`, `repositories`) and
// arbor's own table of contents (`arbor-bundle.json`). The entries come in a fixed order that
// lets a reader act while the file streams past once: the small files first, then every manifest
// and image config, then the other blobs (layers, artifact blobs). Pure: names, headers, the table
// of contents and its checks.
import type { Header } from 'tar-stream';

/** What tar-stream's pack takes for an entry. */
export type EntryHeader = Partial<Header> & Pick<Header, 'name'>;

import { ArborError } from '../errors.js';
import { parseRecord, type ReleaseRecord, serializeRecord } from '../release/record.js';

export const OCI_LAYOUT_FILE = 'oci-layout';
export const INDEX_FILE = 'index.json';
export const TOC_FILE = 'arbor-bundle.json';
export const DOCKER_MANIFEST_FILE = 'manifest.json';
export const DOCKER_REPOSITORIES_FILE = 'repositories';
export const BLOB_DIRECTORIES = ['blobs/', 'blobs/sha256/'] as const;

export const OCI_LAYOUT_BYTES = Buffer.from('{"imageLayoutVersion":"1.0.0"}');

/** Annotations of index.json entries. */
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
/** The full source name (`registry/repository:tag`), which containerd and Docker 25+ name images by. */
export const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';
/** The image's path under the bundle's namespace (`keystone`): `bundle push` puts it at `NAMESPACE/<name>`. */
export const ANNOTATION_BUNDLE_NAME = 'org.arbor.bundle.name';

export const TOC_FORMAT_VERSION = 1;

/**
 * Where a blob sits in the file and what it is: `manifest` (image manifest, index or artifact
 * manifest) and `config` entries are read into memory before anything is planned; `blob` entries
 * (layers, artifact blobs) stream.
 */
export type BlobKind = 'manifest' | 'config' | 'blob';

export interface TocBlob {
  digest: string;
  size: number;
  kind: BlobKind;
}

/** `arbor-bundle.json`: what the file holds, in tar order, and what an update bundle left out. */
export interface BundleToc {
  formatVersion: typeof TOC_FORMAT_VERSION;
  /** Where the images came from (`registry/namespace`), for messages. */
  source: string;
  /** The release bundled (`--release`), when there is one. */
  release?: string;
  /** Its record, when the bundle holds the whole release: `bundle push` writes it at the target too. */
  record?: ReleaseRecord;
  /** Set for an update bundle: the release whose blobs were left out, and which those are. */
  since?: { release: string; omitted: { digest: string; size: number }[] };
  /** Every blob of the file, in its order. */
  blobs: TocBlob[];
}

export function blobPath(digest: string): string {
  return `blobs/${digest.replace(':', '/')}`;
}

/** `blobs/sha256/<hex>` → `sha256:<hex>`, or undefined for any other name. */
export function digestOfPath(name: string): string | undefined {
  const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(name);
  return m ? `sha256:${m[1]}` : undefined;
}

/** Fixed owner, mode and time: the same content always gives the same bytes. */
export function fileHeader(name: string, size: number): EntryHeader {
  return { name, size, mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', mtime: new Date(0), type: 'file' };
}

export function directoryHeader(name: string): EntryHeader {
  return {
    name,
    mode: 0o755,
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
    mtime: new Date(0),
    type: 'directory',
  };
}

const KIND_ORDER: Record<BlobKind, number> = { manifest: 0, config: 1, blob: 2 };

/** Tar order of the blobs: manifests, then configs, then the rest; by digest within each. */
export function orderBlobs(blobs: Iterable<TocBlob>): TocBlob[] {
  return [...blobs].sort(
    (a, b) =>
      KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0),
  );
}

export function serializeToc(toc: BundleToc): Buffer {
  return Buffer.from(
    JSON.stringify({
      formatVersion: toc.formatVersion,
      source: toc.source,
      ...(toc.release !== undefined ? { release: toc.release } : {}),
      ...(toc.record ? { record: JSON.parse(serializeRecord(toc.record).toString('utf8')) } : {}),
      ...(toc.since
        ? {
            since: {
              release: toc.since.release,
              omitted: toc.since.omitted.map((b) => ({ digest: b.digest, size: b.size })),
            },
          }
        : {}),
      blobs: toc.blobs.map((b) => ({ digest: b.digest, size: b.size, kind: b.kind })),
    }),
  );
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Reads `arbor-bundle.json`, checking its shape; problems name the file. */
export function parseToc(bytes: Buffer, where: string): BundleToc {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new BundleFormatError(`${where}: ${TOC_FILE} is not JSON (${(e as Error).message})`);
  }
  const bad = (why: string) => new BundleFormatError(`${where}: ${TOC_FILE}: ${why}`);
  const t = json as Partial<BundleToc>;
  if (typeof t !== 'object' || t === null || Array.isArray(t)) throw bad('not an object');
  if (t.formatVersion !== TOC_FORMAT_VERSION)
    throw bad(
      `formatVersion ${JSON.stringify(t.formatVersion)} (this arbor reads ${TOC_FORMAT_VERSION}; a newer arbor wrote it?)`,
    );
  if (typeof t.source !== 'string') throw bad('source is missing');
  if (t.release !== undefined && typeof t.release !== 'string') throw bad('release is not a string');
  if (t.record !== undefined) {
    try {
      parseRecord(Buffer.from(JSON.stringify(t.record)), `${where}: ${TOC_FILE}`);
    } catch (e) {
      throw bad(`record: ${(e as Error).message}`);
    }
  }
  const isBlob = (b: unknown): b is { digest: string; size: number } =>
    typeof b === 'object' &&
    b !== null &&
    DIGEST.test((b as TocBlob).digest) &&
    Number.isSafeInteger((b as TocBlob).size) &&
    (b as TocBlob).size >= 0;
  if (!Array.isArray(t.blobs)) throw bad('blobs is missing');
  t.blobs.forEach((b, i) => {
    if (!isBlob(b) || !['manifest', 'config', 'blob'].includes(b.kind)) throw bad(`blob ${i} is malformed`);
  });
  const seen = new Set<string>();
  for (const b of t.blobs) {
    if (seen.has(b.digest)) throw bad(`blob ${b.digest} is listed twice`);
    seen.add(b.digest);
  }
  const ordered = orderBlobs(t.blobs);
  if (ordered.some((b, i) => b.digest !== t.blobs![i]!.digest))
    throw bad('blobs are not in bundle order (manifests, configs, then the rest, each by digest)');
  if (t.since !== undefined) {
    const s = t.since as Partial<NonNullable<BundleToc['since']>>;
    if (typeof s.release !== 'string' || !Array.isArray(s.omitted) || !s.omitted.every(isBlob))
      throw bad('since is malformed');
  }
  return t as BundleToc;
}

/** The file is not a bundle, or not a whole one: one located error, printed as the CLI prints any. */
export class BundleFormatError extends ArborError {
  constructor(message: string) {
    super(message);
    this.name = 'BundleFormatError';
  }
}
