// Bundle contents as plain values: images made of random blobs, an index over two platforms, an
// artifact referring to an image. No registry: what the layout and the push plan are computed from.
import { createHash, randomBytes } from 'node:crypto';
import type { BundleContent, BundledImage, BundleManifest } from '../../../src/bundle/contents.js';
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST } from '../../../src/registry/media-types.js';

export const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export interface FakeImage {
  manifest: BundleManifest;
  config: Buffer;
  layers: Buffer[];
}

function manifestOf(json: Record<string, unknown>): BundleManifest {
  const bytes = Buffer.from(JSON.stringify(json));
  return { digest: sha256(bytes), mediaType: json.mediaType as string, bytes, json: json as never };
}

/** An image of the given layers (shared layers are passed in as Buffers). */
export function fakeImage(
  layers: Buffer[],
  options: { architecture?: string; label?: string; layerMediaType?: string } = {},
): FakeImage {
  const config = Buffer.from(
    JSON.stringify({
      architecture: options.architecture ?? 'amd64',
      os: 'linux',
      config: { Labels: { l: options.label ?? randomBytes(4).toString('hex') } },
      rootfs: { type: 'layers', diff_ids: layers.map(sha256) },
    }),
  );
  const manifest = manifestOf({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
    layers: layers.map((l) => ({
      mediaType: options.layerMediaType ?? OCI_LAYER_GZIP,
      digest: sha256(l),
      size: l.length,
    })),
  });
  return { manifest, config, layers };
}

export function fakeIndex(children: { image: FakeImage; architecture: string }[]): BundleManifest {
  return manifestOf({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: children.map((c) => ({
      mediaType: OCI_MANIFEST,
      digest: c.image.manifest.digest,
      size: c.image.manifest.bytes.length,
      platform: { os: 'linux', architecture: c.architecture },
    })),
  });
}

export function fakeArtifact(
  subject: BundleManifest,
  blob: Buffer,
): { manifest: BundleManifest; config: Buffer; blob: Buffer } {
  const config = Buffer.from('{}');
  const manifest = manifestOf({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: 'application/spdx+json',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(config), size: 2 },
    layers: [{ mediaType: 'application/spdx+json', digest: sha256(blob), size: blob.length }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.bytes.length },
  });
  return { manifest, config, blob };
}

/** Content and the bytes of every blob (for writing a file). */
export class ContentBuilder {
  readonly content: BundleContent = {
    images: [],
    manifests: new Map(),
    configs: new Map(),
    referrers: new Map(),
  };
  readonly blobs = new Map<string, Buffer>();

  addImage(image: FakeImage): this {
    this.content.manifests.set(image.manifest.digest, image.manifest);
    this.content.configs.set(sha256(image.config), image.config);
    for (const l of image.layers) this.blobs.set(sha256(l), l);
    return this;
  }

  addIndex(index: BundleManifest, children: FakeImage[]): this {
    for (const c of children) this.addImage(c);
    this.content.manifests.set(index.digest, index);
    return this;
  }

  addArtifact(artifact: ReturnType<typeof fakeArtifact>): this {
    const subject = (artifact.manifest.json as { subject: { digest: string } }).subject.digest;
    this.content.manifests.set(artifact.manifest.digest, artifact.manifest);
    this.content.configs.set(sha256(artifact.config), artifact.config);
    this.blobs.set(sha256(artifact.blob), artifact.blob);
    this.content.referrers.set(subject, [
      ...(this.content.referrers.get(subject) ?? []),
      artifact.manifest.digest,
    ]);
    return this;
  }

  name(name: string, digest: string, tags: string[]): this {
    const image: BundledImage = {
      name,
      source: { registry: '127.0.0.1:5000', repository: `demo/${name}` },
      tags,
      digest,
    };
    this.content.images.push(image);
    return this;
  }
}
