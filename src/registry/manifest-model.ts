// Manifests as arbor reads them: an image manifest (config + layers) or an index (children per
// platform), in OCI or Docker schema 2 form. Parsing checks the shape, so a garbled answer is a
// clear error naming the reference instead of a crash further down.
import { RegistryError } from './errors.js';
import { baseMediaType, DOCKER_MANIFEST, isIndexMediaType, OCI_INDEX, OCI_MANIFEST } from './media-types.js';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
  artifactType?: string;
  urls?: string[];
}

export interface ImageManifestJson {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface IndexJson {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface Manifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  json: ImageManifestJson | IndexJson;
}

export interface ManifestHead {
  digest: string;
  mediaType: string;
  size: number;
}

export function isIndex(json: ImageManifestJson | IndexJson): json is IndexJson {
  return Array.isArray((json as IndexJson).manifests);
}

function isDescriptor(value: unknown): value is Descriptor {
  const d = value as Descriptor;
  return (
    typeof d === 'object' &&
    d !== null &&
    typeof d.digest === 'string' &&
    typeof d.size === 'number' &&
    Number.isInteger(d.size) &&
    d.size >= 0 &&
    (d.mediaType === undefined || typeof d.mediaType === 'string')
  );
}

/**
 * Parses manifest bytes. `contentType` is the registry's Content-Type, used when the JSON has
 * no mediaType (OCI makes the field optional).
 */
export function parseManifest(
  bytes: Buffer,
  reference: string,
  contentType?: string,
): { mediaType: string; json: ImageManifestJson | IndexJson } {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new RegistryError(reference, `malformed manifest JSON (${(e as Error).message})`, { cause: e });
  }
  const bad = (why: string) => new RegistryError(reference, `malformed manifest: ${why}`);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad('not a JSON object');
  const m = json as Record<string, unknown>;
  if (m.schemaVersion !== 2)
    throw bad(`schemaVersion ${JSON.stringify(m.schemaVersion)} is not supported (only 2)`);
  const declared = typeof m.mediaType === 'string' ? m.mediaType : undefined;
  const header = baseMediaType(contentType);
  if (Array.isArray(m.manifests)) {
    if (!m.manifests.every(isDescriptor)) throw bad('an index entry is not a descriptor');
    const mediaType = declared ?? (header && isIndexMediaType(header) ? header : OCI_INDEX);
    return { mediaType, json: json as IndexJson };
  }
  if (!isDescriptor(m.config)) throw bad('config is missing or not a descriptor');
  if (!Array.isArray(m.layers) || !m.layers.every(isDescriptor)) throw bad('layers are missing or malformed');
  const mediaType =
    declared ?? (header === DOCKER_MANIFEST || header === OCI_MANIFEST ? header : (header ?? OCI_MANIFEST));
  return { mediaType, json: json as ImageManifestJson };
}

/** Sum of a manifest's own bytes, its config and layers: what a pull of this image transfers. */
export function imageSize(manifest: Manifest): number {
  if (isIndex(manifest.json)) return manifest.bytes.length;
  return (
    manifest.bytes.length + manifest.json.config.size + manifest.json.layers.reduce((n, l) => n + l.size, 0)
  );
}

/** The index child to show for "the image" when one platform must be chosen: linux/amd64 first, as skopeo does on this host. */
export function defaultChild(index: IndexJson, preferred: Platform = hostPlatform()): Descriptor | undefined {
  const images = index.manifests.filter((d) => d.platform?.architecture !== 'unknown');
  return (
    images.find(
      (d) => d.platform?.os === preferred.os && d.platform?.architecture === preferred.architecture,
    ) ?? images[0]
  );
}

export function hostPlatform(): Platform {
  const arch: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ia32: '386',
    s390x: 's390x',
  };
  return { os: 'linux', architecture: arch[process.arch] ?? process.arch };
}
