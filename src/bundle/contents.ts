// What a bundle holds, as plain values: the images (a name under the namespace, the tags they
// carry, their manifest digest), every manifest and image config by digest, and where each other
// blob can be read. From that, the walk over an image's blobs that both writing and pushing use.
// Pure.
import { type ImageManifestJson, type IndexJson, isIndex } from '../registry/manifest-model.js';
import { isForeignLayer } from '../registry/media-types.js';
import type { BlobKind } from './format.js';

export interface BundleManifest {
  digest: string;
  mediaType: string;
  bytes: Buffer;
  json: ImageManifestJson | IndexJson;
}

export interface BundledImage {
  /** Path under the bundle's namespace (`keystone`, or `library/busybox` for a plain reference). */
  name: string;
  /** Where it was read: its name in `manifest.json` and messages. */
  source: { registry: string; repository: string };
  /** Tags it carries (none for an image named by digest only). */
  tags: string[];
  /** Its manifest or index. */
  digest: string;
}

export interface BundleContent {
  images: BundledImage[];
  /** Every manifest by digest: the images', their index children, their referrers. */
  manifests: Map<string, BundleManifest>;
  /** Image configs by digest (and the configs of artifacts). */
  configs: Map<string, Buffer>;
  /** Referrers (signatures, SBOMs) by the digest of the manifest they refer to. */
  referrers: Map<string, string[]>;
}

export interface BlobRef {
  digest: string;
  size: number;
  mediaType: string;
  kind: BlobKind;
}

/**
 * Every blob reachable from a manifest, itself included: children of an index, config and
 * layers of an image (foreign layers left out: registries do not serve them), and the same for
 * each referrer. Each digest once, in walk order.
 */
export function blobsReachable(content: BundleContent, digest: string): BlobRef[] {
  const found = new Map<string, BlobRef>();
  const visit = (d: string) => {
    if (found.has(d)) return;
    const manifest = content.manifests.get(d);
    if (!manifest) return;
    found.set(d, { digest: d, size: manifest.bytes.length, mediaType: manifest.mediaType, kind: 'manifest' });
    const json = manifest.json;
    if (isIndex(json)) {
      for (const child of json.manifests) visit(child.digest);
    } else {
      const c = json.config;
      if (!found.has(c.digest)) found.set(c.digest, { ...descriptorRef(c), kind: 'config' });
      for (const layer of json.layers) {
        if (isForeignLayer(layer.mediaType ?? '') || found.has(layer.digest)) continue;
        found.set(layer.digest, { ...descriptorRef(layer), kind: 'blob' });
      }
    }
    for (const r of content.referrers.get(d) ?? []) visit(r);
  };
  visit(digest);
  return [...found.values()];
}

function descriptorRef(d: { digest: string; size: number; mediaType?: string }) {
  return { digest: d.digest, size: d.size, mediaType: d.mediaType ?? 'application/octet-stream' };
}

/** Every blob of the bundle's images, each once, with the kind it is first met as. */
export function allBlobs(content: BundleContent): Map<string, BlobRef> {
  const all = new Map<string, BlobRef>();
  for (const image of content.images)
    for (const blob of blobsReachable(content, image.digest))
      if (!all.has(blob.digest)) all.set(blob.digest, blob);
  return all;
}

/** The manifests under an image (itself, index children; not referrers), top first. */
export function imageManifests(content: BundleContent, digest: string): BundleManifest[] {
  const out: BundleManifest[] = [];
  const visit = (d: string) => {
    const m = content.manifests.get(d);
    if (!m || out.includes(m)) return;
    out.push(m);
    if (isIndex(m.json)) for (const child of m.json.manifests) visit(child.digest);
  };
  visit(digest);
  return out;
}

/** `registry/repository:tag` */
export function sourceName(image: BundledImage, tag: string): string {
  return `${image.source.registry}/${image.source.repository}:${tag}`;
}
