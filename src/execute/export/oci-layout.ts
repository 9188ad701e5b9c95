// An OCI image layout (buildah/podman push to `oci:DIR`, buildx `type=oci`) → ExportedImage(s):
// index.json → the image manifest (or an index of one per platform) → config and layers. Layers
// written uncompressed are used in place; compressed ones are decompressed to a file while their
// diffID is computed (arbor recompresses them its own way, see layers/gzip.ts).
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { isIndex, parseManifest } from '../../registry/manifest-model.js';
import { ArchiveError } from './docker-archive.js';
import { type ArchiveContents, resolveEntry } from './image-tar.js';
import type { ExportedImage, ExportedLayer } from './model.js';

/** Reads blobs of a layout, from a directory or from an archive already read by image-tar.ts. */
export interface LayoutAccess {
  bytes(path: string): Promise<Buffer | undefined>;
  /** A file holding the blob, or undefined when absent. */
  file(path: string): string | undefined;
}

export function layoutDirectory(dir: string): LayoutAccess {
  return {
    bytes: (path) => readFile(join(dir, path)).catch(() => undefined),
    file: (path) => join(dir, path),
  };
}

export function layoutArchive(contents: ArchiveContents): LayoutAccess {
  return {
    bytes: async (linked) => {
      const path = resolveEntry(contents, linked);
      const file = contents.spooled.get(path)?.file;
      return contents.small.get(path) ?? (file ? readFile(file) : undefined);
    },
    file: (path) => contents.spooled.get(resolveEntry(contents, path))?.file,
  };
}

const blobPath = (digest: string) => `blobs/${digest.replace(':', '/')}`;

function json<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (e) {
    throw new ArchiveError(`${what} is not JSON (${(e as Error).message})`);
  }
}

/** Every image of the layout's first (or only) entry: one, or one per platform of an index. */
export async function imagesFromOciLayout(
  layout: LayoutAccess,
  workDir: string,
  what: string,
): Promise<ExportedImage[]> {
  const indexBytes = await layout.bytes('index.json');
  if (!indexBytes) throw new ArchiveError(`${what}: no index.json (not an OCI layout)`);
  const index = json<{ manifests?: { digest: string; mediaType?: string }[] }>(
    indexBytes,
    `${what}: index.json`,
  );
  const top = index.manifests?.[0];
  if (!top) throw new ArchiveError(`${what}: index.json lists no image`);
  return imagesOf(layout, top.digest, workDir, what);
}

async function imagesOf(
  layout: LayoutAccess,
  digest: string,
  workDir: string,
  what: string,
): Promise<ExportedImage[]> {
  const bytes = await layout.bytes(blobPath(digest));
  if (!bytes) throw new ArchiveError(`${what}: manifest ${digest} is missing`);
  const { json: manifest } = parseManifest(bytes, `${what}@${digest}`);
  if (isIndex(manifest)) {
    const children = manifest.manifests.filter((d) => d.platform?.architecture !== 'unknown');
    const images = await Promise.all(children.map((d) => imagesOf(layout, d.digest, workDir, what)));
    return images.flat().map((image, i) => ({
      ...image,
      ...(children[i]?.platform ? { platform: children[i]!.platform! } : {}),
    }));
  }
  const config = await layout.bytes(blobPath(manifest.config.digest));
  if (!config) throw new ArchiveError(`${what}: config ${manifest.config.digest} is missing`);
  const diffIds =
    json<{ rootfs?: { diff_ids?: string[] } }>(config, `${what}: config`).rootfs?.diff_ids ?? [];
  if (diffIds.length !== manifest.layers.length)
    throw new ArchiveError(
      `${what}: ${manifest.layers.length} layers in the manifest, ${diffIds.length} in the config`,
    );
  const layers: ExportedLayer[] = [];
  for (const [i, layer] of manifest.layers.entries()) {
    const file = layout.file(blobPath(layer.digest));
    if (!file) throw new ArchiveError(`${what}: layer ${layer.digest} is missing`);
    const compressed = /gzip/.test(layer.mediaType ?? '');
    const exported = compressed
      ? await gunzipToFile(file, join(workDir, `layer-${i}-${layer.digest.slice(7, 19)}.tar`))
      : { diffId: layer.digest, size: layer.size, file };
    if (exported.diffId !== diffIds[i])
      throw new ArchiveError(
        `${what}: layer ${layer.digest} unpacks to ${exported.diffId}, the config says ${diffIds[i]}`,
      );
    layers.push(exported);
  }
  return [{ config, layers }];
}

async function gunzipToFile(from: string, to: string): Promise<ExportedLayer> {
  const hash = createHash('sha256');
  let size = 0;
  const gunzip = createGunzip();
  gunzip.on('data', (chunk: unknown) => {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  });
  await pipeline(createReadStream(from), gunzip, createWriteStream(to));
  return { diffId: `sha256:${hash.digest('hex')}`, size, file: to };
}
