// Images whose layers are real gzipped tar archives with chosen files (package databases,
// whiteouts), pushed with arbor's registry client: what the SBOM's layer scan reads.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import type { RegistryClient } from '../../src/registry/client.js';

export type LayerEntries = Array<{ name: string; content?: string; type?: 'file' | 'directory' }>;

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export async function tarOf(entries: LayerEntries): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c) => chunks.push(c as Buffer));
  const ended = new Promise<void>((resolve) => pack.on('end', () => resolve()));
  for (const entry of entries) {
    if (entry.type === 'directory') pack.entry({ name: entry.name, type: 'directory', mtime: new Date(0) });
    else pack.entry({ name: entry.name, mtime: new Date(0) }, entry.content ?? '');
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

export async function pushTarImage(
  client: RegistryClient,
  repository: string,
  tag: string,
  layers: LayerEntries[],
  options: { labels?: Record<string, string>; created?: string } = {},
): Promise<{ digest: string; manifest: Buffer }> {
  const tars = await Promise.all(layers.map(tarOf));
  const blobs = tars.map((t) => gzipSync(t));
  const config = Buffer.from(
    JSON.stringify({
      created: options.created ?? '2026-01-02T03:04:05Z',
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: options.labels ?? {} },
      rootfs: { type: 'layers', diff_ids: tars.map(sha256) },
    }),
  );
  for (const blob of [config, ...blobs]) await client.uploadBlob(repository, sha256(blob), blob, blob.length);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: blobs.map((b) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        digest: sha256(b),
        size: b.length,
      })),
    }),
  );
  const digest = await client.putManifest(
    repository,
    tag,
    manifest,
    'application/vnd.oci.image.manifest.v1+json',
  );
  return { digest, manifest };
}

export const DPKG_STATUS = `Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9+deb12u7

Package: removed-pkg
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: openssl
Status: install ok installed
Architecture: amd64
Version: 3.0.15-1~deb12u1
`;
