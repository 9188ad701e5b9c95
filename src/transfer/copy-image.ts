// Pushes one image (or index) into a target repository by digest: every blob first (in
// parallel, through the ledger), then child manifests, then the manifest itself, read back —
// never a tag.
// Tags are a separate, last step (flip.ts), so a reader of a tag never sees an image whose blobs
// or children are missing, and a release's tags can move all together.
import pLimit from 'p-limit';
import type { RegistryClient } from '../registry/client.js';
import { isServerError, RegistryError } from '../registry/errors.js';
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
  await readBack(target, repository, digest, bytes.length);
  totals.manifestsPut++;
  return digest;
}

/**
 * The manifest just PUT, asked for again before anything names it. A registry killed while it
 * wrote these bytes once may keep an empty or cut file under their digest (CNCF distribution's
 * filesystem driver writes in place): every later PUT is accepted, since the content "exists",
 * yet the registry cannot read it (500), and a tag put on it would serve that error to every
 * pull. No request can repair it; the run stops before the tags, saying so. A 404 proves
 * nothing (a registry may be slow to show what it just stored) and is let through.
 */
async function readBack(target: RegistryClient, repository: string, digest: string, size: number) {
  const reference = `${target.registry}/${repository}@${digest}`;
  const damaged = (why: string) =>
    new RegistryError(
      reference,
      `the registry accepted this manifest but ${why}: its stored copy is damaged (an empty or cut file, left by a crash during an earlier write). Nothing names it yet; remove that digest's file from the registry's storage, then run again`,
    );
  const head = await target.headManifest(repository, digest).catch((e: unknown) => {
    if (isServerError(e)) throw damaged(`cannot read it back (${e.status})`);
    throw e;
  });
  if (head && head.size !== size) throw damaged(`reads back ${head.size} bytes of ${size}`);
}
