// `arbor bundle`: the selected images read from their registries (manifests, configs,
// referrers), the layout computed, then the file written in one streaming pass.
import { ArborError } from '../errors.js';
import type { RegistryClient } from '../registry/client.js';
import type { Platform } from '../registry/manifest-model.js';
import { resumableBlobStream } from '../transfer/download.js';
import { collectImages, type ImageToBundle } from './collect.js';
import type { TocBlob } from './format.js';
import { bundleLayout } from './layout.js';
import type { BundleSelection, BundleTarget } from './select.js';
import { blobsOfRelease, type ReleasedImage } from './since.js';
import { writeBundle } from './write.js';

export interface CreateRequest {
  selection: BundleSelection;
  out: string;
  clientFor: (target: BundleTarget) => RegistryClient;
  /** An update bundle: the release whose blobs are left out. */
  since?: { release: string; images: ReleasedImage[] };
  platform?: Platform;
  signal?: AbortSignal;
  onBlob?: (blob: TocBlob) => void;
}

export interface CreateReport {
  file: string;
  /** Size of the file and its sha256. */
  bytes: number;
  sha256: string;
  release?: string;
  since?: string;
  images: { name: string; source: string; digest: string; tags: string[] }[];
  blobs: number;
  /** Sum of the blobs' sizes (what the tar holds besides headers). */
  blobBytes: number;
  /** Update bundles: blobs the earlier release had, left out. */
  omitted: number;
  omittedBytes: number;
  referrers: number;
  /** Images left out of Docker's manifest.json (zstd layers): not for `docker load`. */
  notForDockerLoad?: string[];
}

export async function createBundle(request: CreateRequest): Promise<CreateReport> {
  const { selection } = request;
  const requests: ImageToBundle[] = selection.targets.map((t) => ({
    origin: t.origin,
    name: t.name,
    client: request.clientFor(t),
    repository: t.repository,
    reference: t.reference,
    tags: t.tags,
  }));
  const [{ content, origins }, sinceBlobs] = await Promise.all([
    collectImages(requests),
    request.since ? blobsOfRelease(request.since.images) : Promise.resolve(undefined),
  ]);
  if (request.since && sinceBlobs?.found === 0)
    throw new ArborError(
      `--since ${request.since.release}: no release record of that name, and no image of the tree has that tag`,
    );
  const layout = bundleLayout(content, {
    source: selection.source,
    ...(selection.release !== undefined ? { release: selection.release } : {}),
    ...(selection.record ? { record: selection.record } : {}),
    ...(request.since && sinceBlobs
      ? { since: { release: request.since.release, blobs: sinceBlobs.blobs } }
      : {}),
    ...(request.platform ? { platform: request.platform } : {}),
  });
  const written = await writeBundle({
    file: request.out,
    layout,
    content,
    openBlob: (blob) => {
      const origin = origins.get(blob.digest)!;
      return resumableBlobStream(origin.client, origin.repository, blob.digest, blob.size);
    },
    ...(request.signal ? { signal: request.signal } : {}),
    ...(request.onBlob ? { onBlob: request.onBlob } : {}),
  });
  const omitted = layout.toc.since?.omitted ?? [];
  return {
    file: written.file,
    bytes: written.bytes,
    sha256: written.sha256,
    ...(selection.release !== undefined ? { release: selection.release } : {}),
    ...(request.since ? { since: request.since.release } : {}),
    images: content.images.map((i) => ({
      name: i.name,
      source: `${i.source.registry}/${i.source.repository}`,
      digest: i.digest,
      tags: i.tags,
    })),
    blobs: layout.blobs.length,
    blobBytes: layout.blobs.reduce((n, b) => n + b.size, 0),
    omitted: omitted.length,
    omittedBytes: omitted.reduce((n, b) => n + b.size, 0),
    referrers: [...content.referrers.values()].reduce((n, list) => n + list.length, 0),
    ...(layout.notForDockerLoad.length > 0 ? { notForDockerLoad: layout.notForDockerLoad } : {}),
  };
}
