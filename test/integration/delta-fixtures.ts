// Small synthetic layers for the delta tests: real tar files (tar-stream) of text-like files,
// compressed with arbor's LayerGzip (or, for "not arbor's compressor", Node's zlib gzip), pushed
// as OCI images with a history, through the registry client. Release 2 of a layer changes a few
// files of release 1, as a security update does.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { LayerGzip } from '../../src/layers/gzip.js';
import type { RegistryClient } from '../../src/registry/client.js';
import type { Descriptor } from '../../src/registry/manifest-model.js';
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST } from '../../src/registry/media-types.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Deterministic text-like content (paths and numbers), different per seed. */
export function textFile(size: number, seed: number): Buffer {
  let x = seed >>> 0 || 1;
  const lines: string[] = [];
  let length = 0;
  while (length < size) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const line = `/usr/lib/x86_64-linux-gnu/lib${x % 911}.so.${x % 7} ${x.toString(16)} ${x % 65521}\n`;
    lines.push(line);
    length += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, size);
}

export type Files = Record<string, Buffer>;

/** A rootfs-like set of files: `count` files of `size` bytes. */
export function rootfsFiles(count: number, size: number, seed = 1): Files {
  const files: Files = {};
  for (let i = 0; i < count; i++)
    files[`usr/share/pkg${i % 17}/file${i}.txt`] = textFile(size, seed * 7919 + i);
  return files;
}

/** Release 2 of a file set: `changed` files rewritten in part, one file added. */
export function updatedFiles(files: Files, changed: number, seed = 99): Files {
  const next: Files = { ...files };
  Object.keys(files)
    .slice(0, changed)
    .forEach((name, i) => {
      const old = files[name]!;
      next[name] = Buffer.concat([old.subarray(0, old.length / 2), textFile(old.length / 2, seed + i)]);
    });
  next['usr/share/doc/changelog.txt'] = textFile(3000, seed);
  return next;
}

export async function tarOf(files: Files): Promise<Buffer> {
  const archive = pack();
  for (const name of Object.keys(files).sort())
    archive.entry(
      { name, size: files[name]!.length, mtime: new Date(1_700_000_000_000), mode: 0o644 },
      files[name]!,
    );
  archive.finalize();
  return buffer(archive);
}

export interface BuiltLayer {
  descriptor: Descriptor;
  diffId: string;
  tar: Buffer;
  blob: Buffer;
}

/** A layer compressed as arbor pushes it (LayerGzip), or by another gzip (`foreign`). */
export async function layerOf(tar: Buffer, options: { foreign?: boolean } = {}): Promise<BuiltLayer> {
  let blob: Buffer;
  if (options.foreign) blob = gzipSync(tar, { level: 9 });
  else {
    const gzip = new LayerGzip();
    [blob] = await Promise.all([buffer(gzip), pipeline(Readable.from([tar]), gzip)]);
  }
  return {
    descriptor: { mediaType: OCI_LAYER_GZIP, digest: sha256(blob), size: blob.length },
    diffId: sha256(tar),
    tar,
    blob,
  };
}

/** Pushes an image of these layers (each with a Dockerfile step in the history) under `tag`. */
export async function pushLayeredImage(
  client: RegistryClient,
  repository: string,
  tag: string,
  layers: { layer: BuiltLayer; command: string }[],
  architecture = 'amd64',
): Promise<{ digest: string; manifest: Buffer; config: Buffer }> {
  for (const { layer } of layers)
    if (!(await client.headBlob(repository, layer.descriptor.digest)))
      await client.uploadBlob(repository, layer.descriptor.digest, layer.blob, layer.blob.length);
  const config = Buffer.from(
    JSON.stringify({
      architecture,
      os: 'linux',
      config: { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.layer.diffId) },
      history: layers.map((l) => ({ created: '2025-01-01T00:00:00Z', created_by: l.command })),
    }),
  );
  await client.uploadBlob(repository, sha256(config), config, config.length);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
      layers: layers.map((l) => l.layer.descriptor),
    }),
  );
  const digest = await client.putManifest(repository, tag, manifest, OCI_MANIFEST);
  return { digest, manifest, config };
}

/** An OCI index over images pushed by digest, one per platform. */
export async function pushIndex(
  client: RegistryClient,
  repository: string,
  tag: string,
  children: { digest: string; manifest: Buffer; architecture: string }[],
): Promise<string> {
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: children.map((c) => ({
        mediaType: OCI_MANIFEST,
        digest: c.digest,
        size: c.manifest.length,
        platform: { os: 'linux', architecture: c.architecture },
      })),
    }),
  );
  return client.putManifest(repository, tag, index, OCI_INDEX);
}
