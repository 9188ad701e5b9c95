// What `arbor ls` and `arbor inspect` show of an image: digest, media type, created, labels,
// layers and sizes; for an index its platforms, with the default platform's details.
import pLimit from 'p-limit';
import type { RegistryClient } from './client.js';
import type { IndexChild } from './config-blob.js';
import { type Descriptor, defaultChild, isIndex, type Manifest } from './manifest-model.js';

export interface ImageSummary {
  digest: string;
  mediaType: string;
  /** Bytes of the manifest itself. */
  manifestSize: number;
  created?: string;
  labels: Record<string, string>;
  architecture: string;
  os: string;
  /** For an index: every child, with its total size. Other fields describe the default child. */
  platforms?: Array<IndexChild & { totalSize: number }>;
  /** The default child shown for an index. */
  shownPlatform?: string;
  config?: Descriptor;
  layers: Descriptor[];
  /** Manifest + config + layers; for an index, the index and every child (shared blobs counted once). */
  totalSize: number;
}

function imageBlobs(manifest: Manifest): Descriptor[] {
  return isIndex(manifest.json) ? [] : [manifest.json.config, ...manifest.json.layers];
}

/** Reads a manifest (by tag or digest), its config and, for an index, its children. */
export async function describeImage(
  client: RegistryClient,
  repository: string,
  ref: string,
  options: { concurrency?: number } = {},
): Promise<ImageSummary> {
  const manifest = await client.getManifest(repository, ref);
  const config = await client.getImageConfig(repository, manifest);
  const base = {
    digest: manifest.digest,
    mediaType: manifest.mediaType,
    manifestSize: manifest.bytes.length,
    ...(config.created ? { created: config.created } : {}),
    labels: config.labels,
    architecture: config.architecture,
    os: config.os,
  };
  if (!isIndex(manifest.json)) {
    return {
      ...base,
      config: manifest.json.config,
      layers: manifest.json.layers,
      totalSize: manifest.bytes.length + imageBlobs(manifest).reduce((n, b) => n + b.size, 0),
    };
  }
  const limit = pLimit(options.concurrency ?? 4);
  const children = await Promise.all(
    manifest.json.manifests.map((child) => limit(() => client.getManifest(repository, child.digest))),
  );
  const blobs = new Map<string, number>();
  for (const child of children) for (const b of imageBlobs(child)) blobs.set(b.digest, b.size);
  const shown = defaultChild(manifest.json);
  const shownManifest = children.find((c) => c.digest === shown?.digest);
  const platforms = (config.platforms ?? []).map((p, i) => {
    const child = children[i];
    const total = child ? child.bytes.length + imageBlobs(child).reduce((n, b) => n + b.size, 0) : p.size;
    return { ...p, totalSize: total };
  });
  return {
    ...base,
    platforms,
    ...(shown?.platform ? { shownPlatform: platformName(shown.platform) } : {}),
    ...(shownManifest && !isIndex(shownManifest.json)
      ? { config: shownManifest.json.config, layers: shownManifest.json.layers }
      : { layers: [] }),
    totalSize:
      manifest.bytes.length +
      children.reduce((n, c) => n + c.bytes.length, 0) +
      [...blobs.values()].reduce((n, s) => n + s, 0),
  };
}

export function platformName(p: { os: string; architecture: string; variant?: string }): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}
