// Copies an image (or a whole index) between repositories or registries: blobs first (skipped
// when present, mounted when on the same registry, else streamed GET → PUT/PATCH without holding
// a layer in memory), then child manifests, then the top manifest under every tag.
import pLimit from 'p-limit';
import type { RegistryClient } from './client.js';
import { RegistryError } from './errors.js';
import { type Descriptor, isIndex, type Manifest } from './manifest-model.js';
import { isForeignLayer } from './media-types.js';

export interface CopyResult {
  digest: string;
  mediaType: string;
  blobsCopied: number;
  blobsMounted: number;
  blobsPresent: number;
  /** Blob bytes streamed from source to destination. */
  bytesCopied: number;
}

export interface CopyOptions {
  /** Blobs in flight at once (default 4). */
  concurrency?: number;
}

export async function copyImage(
  src: RegistryClient,
  srcRepository: string,
  ref: string,
  dst: RegistryClient,
  dstRepository: string,
  tags: string[],
  options: CopyOptions = {},
): Promise<CopyResult> {
  const limit = pLimit(options.concurrency ?? 4);
  const result: CopyResult = {
    digest: '',
    mediaType: '',
    blobsCopied: 0,
    blobsMounted: 0,
    blobsPresent: 0,
    bytesCopied: 0,
  };
  const sameRegistry = src.baseUrl.origin === dst.baseUrl.origin;
  const blobsDone = new Map<string, Promise<void>>();

  const copyBlob = (blob: Descriptor): Promise<void> => {
    let done = blobsDone.get(blob.digest);
    if (!done) {
      done = limit(async () => {
        if (await dst.headBlob(dstRepository, blob.digest)) {
          result.blobsPresent++;
          return;
        }
        let session: string | undefined;
        if (sameRegistry && srcRepository !== dstRepository) {
          const mount = await dst.mountBlob(dstRepository, blob.digest, srcRepository);
          if (mount.mounted) {
            result.blobsMounted++;
            return;
          }
          session = mount.session;
        }
        // A function, so a failed upload session can start over with a fresh GET.
        const open = async () => (await src.getBlob(srcRepository, blob.digest)).stream;
        await dst.uploadBlob(dstRepository, blob.digest, open, blob.size, session ? { session } : {});
        result.blobsCopied++;
        result.bytesCopied += blob.size;
      });
      blobsDone.set(blob.digest, done);
    }
    return done;
  };

  const copyManifest = async (manifest: Manifest): Promise<void> => {
    if (isIndex(manifest.json)) {
      await Promise.all(
        manifest.json.manifests.map(async (child) => {
          const childManifest = await src.getManifest(srcRepository, child.digest);
          await copyManifest(childManifest);
          await dst.putManifest(dstRepository, child.digest, childManifest.bytes, childManifest.mediaType);
        }),
      );
      return;
    }
    const blobs = [manifest.json.config, ...manifest.json.layers].filter(
      (b) => !isForeignLayer(b.mediaType ?? ''),
    );
    await Promise.all(blobs.map(copyBlob));
  };

  const top = await src.getManifest(srcRepository, ref);
  result.digest = top.digest;
  result.mediaType = top.mediaType;
  await copyManifest(top);
  const names = tags.length > 0 ? tags : [top.digest];
  for (const name of names) {
    const digest = await dst.putManifest(dstRepository, name, top.bytes, top.mediaType);
    if (digest !== top.digest)
      throw new RegistryError(
        `${dst.registry}/${dstRepository}:${name}`,
        'copied manifest changed its digest',
      );
  }
  return result;
}
