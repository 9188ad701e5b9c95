// Pushes one image (or index) into a target repository by digest: every blob first (in
// parallel, through the ledger), then child manifests, then the manifest itself — never a tag.
// Tags are a separate, last step (flip.ts), so a reader of a tag never sees an image whose blobs
// or children are missing, and a release's tags can move all together.
import pLimit from 'p-limit';
import type { RegistryClient } from '../registry/client.js';
import { RegistryError } from '../registry/errors.js';
import { isForeignLayer } from '../registry/media-types.js';
import { copyBlob } from './copy-blob.js';
import type { BlobLedger } from './ledger.js';
import { addOutcome, type CopyTotals, type ImageToCopy } from './model.js';

export interface CopyImageOptions {
  /** Blobs in flight at once for this image (default 4). */
  concurrency?: number;
  signal?: AbortSignal;
}

export async function copyImageTo(
  target: RegistryClient,
  repository: string,
  image: ImageToCopy,
  ledger: BlobLedger,
  totals: CopyTotals,
  options: CopyImageOptions = {},
): Promise<string> {
  const limit = pLimit(options.concurrency ?? 4);
  await Promise.all(
    image.children.map((child) => copyImageTo(target, repository, child, ledger, totals, options)),
  );
  await Promise.all(
    image.blobs
      .filter((b) => !isForeignLayer(b.descriptor.mediaType ?? ''))
      .map((blob) =>
        limit(async () => {
          options.signal?.throwIfAborted();
          addOutcome(totals, await copyBlob(target, repository, blob, ledger));
        }),
      ),
  );
  options.signal?.throwIfAborted();
  const { digest, bytes, mediaType } = image.manifest;
  const stored = await target.putManifest(repository, digest, bytes, mediaType);
  if (stored !== digest)
    throw new RegistryError(
      `${target.registry}/${repository}@${digest}`,
      'manifest changed its digest on the way',
    );
  totals.manifestsPut++;
  return digest;
}
