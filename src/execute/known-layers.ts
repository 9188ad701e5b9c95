// Layers this apply can publish without compressing them again, by diffID: those it compressed
// itself (on local disk), and those of parent images already in a registry (copied or mounted
// from there). A child image shares its parent's layers, so its export only hashes them, and
// only the layers it adds are compressed.
import { createReadStream, createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Digester, LayerGzip } from '../layers/gzip.js';
import type { RegistryClient } from '../registry/client.js';
import type { Descriptor, Manifest } from '../registry/manifest-model.js';
import { isIndex } from '../registry/manifest-model.js';
import { isForeignLayer, OCI_LAYER_GZIP } from '../registry/media-types.js';
import { type BlobSource, fileBlob, registryBlob } from '../transfer/blob-source.js';
import type { CompressedLayerFile } from './export/model.js';

export interface KnownLayer {
  descriptor: Descriptor;
  source: BlobSource;
  /** Uncompressed size, when known (layers compressed in this run). */
  uncompressedSize?: number;
}

/** Docker's layer media types name the same blobs as OCI's; an OCI manifest uses OCI's names. */
export function ociLayerMediaType(mediaType: string): string {
  switch (mediaType) {
    case 'application/vnd.docker.image.rootfs.diff.tar.gzip':
      return OCI_LAYER_GZIP;
    case 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip':
      return 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';
    default:
      return mediaType;
  }
}

export class KnownLayers {
  private readonly layers = new Map<string, KnownLayer>();
  private readonly compressing = new Map<string, Promise<KnownLayer>>();

  constructor(private readonly dir: string) {}

  /** Where this run's compressed layers live (exports may compress into it: ExportOptions.compressInto). */
  get directory(): string {
    return this.dir;
  }

  /** A layer an export compressed already (same compressor): known from now on, once per diffID. */
  adopt(diffId: string, compressed: CompressedLayerFile, uncompressedSize: number): KnownLayer {
    const known = this.layers.get(diffId);
    if (known) return known;
    const layer: KnownLayer = {
      descriptor: { mediaType: OCI_LAYER_GZIP, digest: compressed.digest, size: compressed.size },
      source: fileBlob(compressed.file),
      uncompressedSize,
    };
    this.layers.set(diffId, layer);
    return layer;
  }

  /** Blob digests of the layers this run compressed itself (reproducible by construction). */
  compressedDigests(): string[] {
    return [...this.layers.values()]
      .filter((l) => l.uncompressedSize !== undefined)
      .map((l) => l.descriptor.digest);
  }

  get(diffId: string): KnownLayer | undefined {
    return this.layers.get(diffId);
  }

  /** Uncompressed size → diffIDs, for exports that only hash layers they can skip. */
  sizes(): Map<number, Set<string>> {
    const sizes = new Map<number, Set<string>>();
    for (const [diffId, layer] of this.layers) {
      if (layer.uncompressedSize === undefined) continue;
      const set = sizes.get(layer.uncompressedSize) ?? new Set<string>();
      set.add(diffId);
      sizes.set(layer.uncompressedSize, set);
    }
    return sizes;
  }

  /** The layers of an image in a registry, by its config's diff_ids (for an index: every child). */
  async learnFromRegistry(client: RegistryClient, repository: string, manifest: Manifest): Promise<void> {
    if (isIndex(manifest.json)) {
      for (const child of manifest.json.manifests)
        await this.learnFromRegistry(client, repository, await client.getManifest(repository, child.digest));
      return;
    }
    const config = await client.getBlob(repository, manifest.json.config.digest, { buffer: 8 * 1024 * 1024 });
    const diffIds =
      (JSON.parse((config.bytes ?? Buffer.alloc(0)).toString('utf8')) as { rootfs?: { diff_ids?: string[] } })
        .rootfs?.diff_ids ?? [];
    manifest.json.layers.forEach((layer, i) => {
      const diffId = diffIds[i];
      if (!diffId || this.layers.has(diffId) || isForeignLayer(layer.mediaType ?? '')) return;
      this.layers.set(diffId, {
        descriptor: { mediaType: ociLayerMediaType(layer.mediaType), digest: layer.digest, size: layer.size },
        source: registryBlob(client, repository, layer.digest, layer.size),
      });
    });
  }

  /** The layer compressed (deterministically, see layers/gzip.ts) into this run's directory; once per diffID. */
  compress(diffId: string, tarFile: string, uncompressedSize: number): Promise<KnownLayer> {
    const known = this.layers.get(diffId);
    if (known) return Promise.resolve(known);
    let running = this.compressing.get(diffId);
    if (!running) {
      running = this.compressFile(diffId, tarFile, uncompressedSize).finally(() =>
        this.compressing.delete(diffId),
      );
      this.compressing.set(diffId, running);
    }
    return running;
  }

  private async compressFile(diffId: string, tarFile: string, uncompressedSize: number): Promise<KnownLayer> {
    const file = join(this.dir, `${diffId.replace(':', '-')}.tar.gz`);
    const gzip = new LayerGzip();
    const digester = new Digester();
    await pipeline(
      createReadStream(tarFile, { highWaterMark: 1024 * 1024 }),
      gzip,
      digester,
      createWriteStream(file),
    );
    if (gzip.diffId !== diffId)
      throw new Error(`layer file ${tarFile} hashes to ${gzip.diffId}, expected ${diffId}`);
    const layer: KnownLayer = {
      descriptor: { mediaType: OCI_LAYER_GZIP, digest: digester.digest!, size: digester.size },
      source: fileBlob(file),
      uncompressedSize,
    };
    this.layers.set(diffId, layer);
    return layer;
  }
}
