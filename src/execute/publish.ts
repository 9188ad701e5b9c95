// Publishing a built image through arbor's own registry client: every layer the builder exported
// is compressed deterministically (or taken from a parent that already has it), an OCI manifest
// is written for it, and the transfer engine moves the blobs (HEAD, mount, resumable upload, each
// blob once per apply) and puts the manifest by digest. No tag is written here: the fingerprint
// tag and the human tags are apply's decision.

import type { RegistryClient } from '../registry/client.js';
import { digestOf } from '../registry/digest.js';
import type { Descriptor } from '../registry/manifest-model.js';
import { OCI_CONFIG, OCI_INDEX, OCI_MANIFEST } from '../registry/media-types.js';
import { bytesBlob } from '../transfer/blob-source.js';
import { copyImageTo } from '../transfer/copy-image.js';
import type { BlobLedger } from '../transfer/ledger.js';
import type { CopyTotals, ImageToCopy, ManifestBytes } from '../transfer/model.js';
import type { ExportedImage } from './export/model.js';
import type { KnownLayers } from './known-layers.js';

export interface PublishRequest {
  images: ExportedImage[];
  known: KnownLayers;
  target: RegistryClient;
  repository: string;
  ledger: BlobLedger;
  totals: CopyTotals;
  /** On the top manifest (the image's, or the index of its platforms). */
  annotations?: Record<string, string>;
  signal?: AbortSignal;
}

/** The manifest bytes arbor writes for an image: OCI, keys in a fixed order (same input, same digest). */
export function imageManifest(
  config: Descriptor,
  layers: Descriptor[],
  annotations?: Record<string, string>,
): ManifestBytes {
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      ...(annotations && Object.keys(annotations).length > 0 ? { annotations: sorted(annotations) } : {}),
    }),
  );
  return { digest: digestOf(bytes), mediaType: OCI_MANIFEST, bytes };
}

function sorted(annotations: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(annotations).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

async function imageToCopy(
  image: ExportedImage,
  known: KnownLayers,
  annotations?: Record<string, string>,
): Promise<ImageToCopy> {
  const config: Descriptor = {
    mediaType: OCI_CONFIG,
    digest: digestOf(image.config),
    size: image.config.length,
  };
  const layers = await Promise.all(
    image.layers.map(async (layer) => {
      const have = known.get(layer.diffId);
      if (have) return have;
      if (layer.compressed) return known.adopt(layer.diffId, layer.compressed, layer.size);
      if (!layer.file) throw new Error(`layer ${layer.diffId} was neither exported nor known`);
      return known.compress(layer.diffId, layer.file, layer.size);
    }),
  );
  return {
    manifest: imageManifest(
      config,
      layers.map((l) => l.descriptor),
      annotations,
    ),
    blobs: [
      { descriptor: config, source: bytesBlob(image.config, 'image config') },
      ...layers.map((l) => ({ descriptor: l.descriptor, source: l.source })),
    ],
    children: [],
  };
}

/** Uploads the image (or, for several platforms, an index of them) by digest; returns its manifest. */
export async function publishImage(request: PublishRequest): Promise<ManifestBytes> {
  const single = request.images.length === 1;
  const parts = await Promise.all(
    request.images.map((image) =>
      imageToCopy(image, request.known, single ? request.annotations : undefined),
    ),
  );
  let top: ImageToCopy;
  if (parts.length === 1) top = parts[0]!;
  else {
    const bytes = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: parts.map((p, i) => ({
          mediaType: p.manifest.mediaType,
          digest: p.manifest.digest,
          size: p.manifest.bytes.length,
          ...(request.images[i]!.platform ? { platform: request.images[i]!.platform } : {}),
        })),
        ...(request.annotations && Object.keys(request.annotations).length > 0
          ? { annotations: sorted(request.annotations) }
          : {}),
      }),
    );
    top = { manifest: { digest: digestOf(bytes), mediaType: OCI_INDEX, bytes }, blobs: [], children: parts };
  }
  await copyImageTo(request.target, request.repository, top, request.ledger, request.totals, {
    ...(request.signal ? { signal: request.signal } : {}),
  });
  return top.manifest;
}
