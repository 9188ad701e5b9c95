// Images whose layers are written entry by entry (tar-stream), pushed with arbor's registry
// client: whiteouts in any order, opaque markers, type swaps, links, and malicious names that no
// builder would produce.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import type { RegistryClient } from '../../src/registry/client.js';
import { OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST } from '../../src/registry/media-types.js';

export interface CraftedEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo' | 'character-device';
  mode?: number;
  uid?: number;
  gid?: number;
  content?: string;
  linkname?: string;
  pax?: Record<string, string>;
}

const sha256 = (bytes: Buffer) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

export async function layerTar(entries: CraftedEntry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = {
      name: e.name,
      type,
      mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: new Date('2025-01-02T03:04:05Z'),
      ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
      ...(e.pax ? { pax: e.pax } : {}),
    };
    await new Promise<void>((resolve, reject) => {
      const callback = (err?: Error | null) => (err ? reject(err) : resolve());
      if (type === 'file') p.entry(header, e.content ?? '', callback);
      else p.entry(header, callback);
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Pushes an image with these layers (gzip, OCI media types, linux/amd64). */
export async function pushCrafted(
  client: RegistryClient,
  repository: string,
  tag: string,
  layers: CraftedEntry[][],
): Promise<{ digest: string; layers: string[] }> {
  return pushLayerTars(client, repository, tag, await Promise.all(layers.map(layerTar)));
}

/** Pushes an image whose layers are these tar archives as they are (written by GNU tar, say). */
export async function pushLayerTars(
  client: RegistryClient,
  repository: string,
  tag: string,
  tars: Buffer[],
  /** Another layer media type than gzip's (what a reader cannot read, say); the bytes stay gzip. */
  layerMediaType = OCI_LAYER_GZIP,
): Promise<{ digest: string; layers: string[] }> {
  const blobs = tars.map((tar) => {
    const gz = gzipSync(tar);
    return { diffId: sha256(tar), digest: sha256(gz), bytes: gz };
  });
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/none'] },
      rootfs: { type: 'layers', diff_ids: blobs.map((b) => b.diffId) },
    }),
  );
  for (const blob of [...blobs, { digest: sha256(config), bytes: config }])
    await client.uploadBlob(repository, blob.digest, blob.bytes, blob.bytes.length);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length },
      layers: blobs.map((b) => ({ mediaType: layerMediaType, digest: b.digest, size: b.bytes.length })),
    }),
  );
  const digest = await client.putManifest(repository, tag, manifest, OCI_MANIFEST);
  return { digest, layers: blobs.map((b) => b.digest) };
}
