// What the transfer engine moves: images as their manifest bytes plus where each blob comes from.
// The same shape serves every caller — apply (layers arbor compressed, on local disk), promote and
// sync (blobs in another registry), bundle push (blobs in a file) — only the sources differ.
import type { Descriptor } from '../registry/manifest-model.js';
import type { BlobSource } from './blob-source.js';

export interface ManifestBytes {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

export interface BlobToCopy {
  descriptor: Descriptor;
  source: BlobSource;
}

/** An image manifest with its blobs, or an index with its children (pushed first, by digest). */
export interface ImageToCopy {
  manifest: ManifestBytes;
  /** Config and layers of an image manifest; empty for an index. */
  blobs: BlobToCopy[];
  /** Child manifests of an index. */
  children: ImageToCopy[];
}

/** What happened to one blob at the target. */
export type BlobOutcome =
  | { how: 'present' }
  | { how: 'mounted'; from: string }
  | { how: 'uploaded'; bytes: number };

export interface CopyTotals {
  blobsPresent: number;
  blobsMounted: number;
  blobsUploaded: number;
  /** Blob bytes the target accepted from this copy. */
  bytesUploaded: number;
  manifestsPut: number;
}

export function emptyTotals(): CopyTotals {
  return { blobsPresent: 0, blobsMounted: 0, blobsUploaded: 0, bytesUploaded: 0, manifestsPut: 0 };
}

export function addOutcome(totals: CopyTotals, outcome: BlobOutcome): void {
  if (outcome.how === 'present') totals.blobsPresent++;
  else if (outcome.how === 'mounted') totals.blobsMounted++;
  else {
    totals.blobsUploaded++;
    totals.bytesUploaded += outcome.bytes;
  }
}
