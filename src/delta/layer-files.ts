// Layers on disk, streamed: a blob downloaded and decompressed into a tar file (hashing both
// sides on the way), and a tar compressed back with arbor's deterministic gzip. A layer is never
// held in memory whole.
import { createReadStream, createWriteStream } from 'node:fs';
import { PassThrough, type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Digester, LayerGzip } from '../layers/gzip.js';
import type { RegistryClient } from '../registry/client.js';
import type { Descriptor } from '../registry/manifest-model.js';
import { resumableBlobStream } from '../transfer/download.js';

const GZIP_LAYERS = new Set([
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
]);
const TAR_LAYERS = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.docker.image.rootfs.diff.tar',
]);

/** Layers arbor compresses (gzip) can get deltas; plain tar layers can serve as bases too. */
export function isGzipLayer(mediaType: string): boolean {
  return GZIP_LAYERS.has(mediaType);
}

export function canDecompress(mediaType: string): boolean {
  return GZIP_LAYERS.has(mediaType) || TAR_LAYERS.has(mediaType);
}

/** What passed: the blob as stored (digest, size) and the tar inside (diffID, size). */
export interface LayerTar {
  path: string;
  blobDigest: string;
  blobSize: number;
  diffId: string;
  tarSize: number;
}

/** GETs the layer's blob and writes its tar to `path`. The caller compares the digests. */
export async function downloadLayerTar(
  client: RegistryClient,
  repository: string,
  layer: Descriptor,
  path: string,
  signal?: AbortSignal,
): Promise<LayerTar> {
  // Continues with Range when the connection breaks (a long layer over a slow link).
  const stream = resumableBlobStream(client, repository, layer.digest, layer.size);
  const blob = new Digester();
  const tar = new Digester();
  const decompress = isGzipLayer(layer.mediaType) ? createGunzip() : new PassThrough();
  await pipeline(stream, blob, decompress, tar, createWriteStream(path), signal ? { signal } : {});
  return {
    path,
    blobDigest: blob.digest!,
    blobSize: blob.size,
    diffId: tar.digest!,
    tarSize: tar.size,
  };
}

/** GETs a blob into `path` as it is (a delta), resuming with Range if it breaks; returns what arrived. */
export async function downloadBlob(
  client: RegistryClient,
  repository: string,
  digest: string,
  path: string,
  signal?: AbortSignal,
  size?: number,
): Promise<{ digest: string; size: number }> {
  const length = size ?? (await client.headBlob(repository, digest))?.size;
  const stream =
    length !== undefined && Number.isFinite(length)
      ? resumableBlobStream(client, repository, digest, length)
      : (await client.getBlob(repository, digest)).stream;
  const blob = new Digester();
  await pipeline(stream, blob, createWriteStream(path), signal ? { signal } : {});
  return { digest: blob.digest!, size: blob.size };
}

/** A compressed layer: its digest and size, and those of the tar it was made from. */
export interface CompressedLayer {
  digest: string;
  size: number;
  diffId: string;
  tarSize: number;
}

function discard(): Writable {
  return new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
}

/** Compresses a tar stream with LayerGzip into `outPath` (or nowhere: only the digests are wanted). */
export async function compressTar(
  tar: Readable,
  outPath?: string,
  signal?: AbortSignal,
): Promise<CompressedLayer> {
  const gzip = new LayerGzip();
  const out = new Digester();
  await pipeline(tar, gzip, out, outPath ? createWriteStream(outPath) : discard(), signal ? { signal } : {});
  return { digest: out.digest!, size: out.size, diffId: gzip.diffId!, tarSize: gzip.uncompressedSize };
}

export function compressTarFile(
  path: string,
  outPath?: string,
  signal?: AbortSignal,
): Promise<CompressedLayer> {
  return compressTar(createReadStream(path), outPath, signal);
}
