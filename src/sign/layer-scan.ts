// Package databases inside an image, read from its layers as the registry serves them: each layer
// is streamed (gzip, zstd where this Node has it, or plain tar) through tar-stream, never held in
// memory; only the few small files that name packages are kept. Layers apply in order with their
// whiteouts (`.wh.name` deletes, `.wh..wh..opq` empties a directory), so a package database
// removed or replaced by a later layer is not reported.

import { Readable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import type { RegistryClient } from '../registry/client.js';
import { RegistryError } from '../registry/errors.js';
import { defaultChild, isIndex, type Manifest } from '../registry/manifest-model.js';
import { type InstalledPackage, parseDpkgStatus, parsePythonMetadata } from './packages.js';

/** Files worth reading, by path inside the image (no leading `/`). */
export function isPackageDatabase(path: string): boolean {
  return (
    path === 'var/lib/dpkg/status' ||
    /^var\/lib\/dpkg\/status\.d\/[^/]+$/.test(path) ||
    /\.dist-info\/METADATA$/.test(path) ||
    /\.egg-info\/PKG-INFO$/.test(path) ||
    path === 'etc/os-release' ||
    path === 'usr/lib/os-release'
  );
}

/** A package database bigger than this is not one (a dpkg status of 3,000 packages is ≈ 3 MB). */
const MAX_FILE = 32 * 1024 * 1024;

/** The interesting files of one layer, and what it deletes from the layers below. */
export interface LayerFiles {
  files: Map<string, Buffer>;
  /** Paths deleted by whiteouts (the path and everything under it). */
  deleted: string[];
  /** Directories made opaque: lower layers' content under them is gone. */
  opaque: string[];
}

/** Stacks layers: what the image's filesystem holds of the interesting files. */
export function applyLayers(layers: LayerFiles[]): Map<string, Buffer> {
  const merged = new Map<string, Buffer>();
  for (const layer of layers) {
    for (const path of merged.keys()) {
      const gone =
        layer.deleted.some((d) => path === d || path.startsWith(`${d}/`)) ||
        layer.opaque.some((d) => path.startsWith(`${d}/`));
      if (gone) merged.delete(path);
    }
    for (const [path, bytes] of layer.files) merged.set(path, bytes);
  }
  return merged;
}

/** Packages and distribution named by the image's files. */
export function packagesOfFiles(files: Map<string, Buffer>): {
  packages: InstalledPackage[];
  distro?: string;
} {
  const packages: InstalledPackage[] = [];
  let distro: string | undefined;
  for (const [path, bytes] of files) {
    const text = bytes.toString('utf8');
    if (path.endsWith('os-release')) distro = /^ID="?([a-z0-9._-]+)"?$/m.exec(text)?.[1] ?? distro;
    else if (path.startsWith('var/lib/dpkg/')) packages.push(...parseDpkgStatus(text));
    else {
      const found = parsePythonMetadata(text);
      if (found) packages.push(found);
    }
  }
  return { packages, ...(distro ? { distro } : {}) };
}

/** The layer as tar: gunzip, zstd or nothing, chosen by its first bytes (media types are not always honest). */
async function asTar(stream: Readable): Promise<[Readable] | [Readable, Transform]> {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let size = 0;
  let done = false;
  while (size < 4 && !done) {
    const next = await iterator.next();
    if (next.done) done = true;
    else {
      head.push(next.value);
      size += next.value.length;
    }
  }
  const start = Buffer.concat(head);
  const whole = Readable.from(
    (async function* () {
      yield start;
      if (done) return;
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
    })(),
  );
  if (start[0] === 0x1f && start[1] === 0x8b) return [whole, zlib.createGunzip()];
  if (start.length >= 4 && start.readUInt32LE(0) === 0xfd2fb528) {
    const zstd = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;
    if (!zstd) throw new Error('a zstd layer needs Node 22.15 or later to be read');
    return [whole, zstd()];
  }
  return [whole];
}

/** Reads one layer stream: the interesting files and its whiteouts. */
export async function scanLayer(stream: Readable): Promise<LayerFiles> {
  const result: LayerFiles = { files: new Map(), deleted: [], opaque: [] };
  const extract = tar.extract();
  extract.on('entry', (header, body, next) => {
    const path = header.name.replace(/^\.?\//, '').replace(/\/$/, '');
    const slash = path.lastIndexOf('/');
    const dir = slash >= 0 ? path.slice(0, slash) : '';
    const base = path.slice(slash + 1);
    if (base === '.wh..wh..opq') result.opaque.push(dir);
    else if (base.startsWith('.wh.')) result.deleted.push(dir ? `${dir}/${base.slice(4)}` : base.slice(4));
    if (header.type === 'file' && isPackageDatabase(path) && (header.size ?? 0) <= MAX_FILE) {
      const chunks: Buffer[] = [];
      body.on('data', (c) => chunks.push(c as Buffer));
      body.on('end', () => {
        result.files.set(path, Buffer.concat(chunks));
        next();
      });
    } else {
      body.on('end', () => next());
      body.resume();
    }
  });
  await pipeline([...(await asTar(stream)), extract]);
  return result;
}

/**
 * Every layer of an image manifest (the default platform's for an index), streamed one by one. A
 * layer that is not a readable archive is listed in `unreadable` (the SBOM says so) rather than
 * failing the signing of a published image; a registry failure still fails.
 */
export async function scanImage(
  client: RegistryClient,
  repository: string,
  manifest: Manifest,
): Promise<{ packages: InstalledPackage[]; distro?: string; unreadable: string[] }> {
  let image = manifest;
  if (isIndex(image.json)) {
    const child = defaultChild(image.json);
    if (!child) return { packages: [], unreadable: [] };
    image = await client.getManifest(repository, child.digest);
    if (isIndex(image.json)) return { packages: [], unreadable: [] };
  }
  const layers: LayerFiles[] = [];
  const unreadable: string[] = [];
  for (const layer of image.json.layers) {
    const blob = await client.getBlob(repository, layer.digest);
    try {
      layers.push(await scanLayer(blob.stream));
    } catch (e) {
      if (e instanceof RegistryError) throw e;
      blob.stream.destroy();
      unreadable.push(`${layer.digest} (${(e as Error).message})`);
    }
  }
  return { ...packagesOfFiles(applyLayers(layers)), unreadable };
}
