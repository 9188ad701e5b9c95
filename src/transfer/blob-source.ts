// Where the bytes of a blob come from when it must be uploaded: a local file (a layer arbor just
// compressed), bytes in memory (a config, a manifest's small blobs), or another registry (a copy,
// a promotion). Every source opens at any offset, so an upload can continue where the target
// registry says it stopped, and a download that broke continues with Range instead of byte 0.
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { SeekableSource } from '../registry/blobs.js';
import type { RegistryClient } from '../registry/client.js';
import { resumableBlobStream } from './download.js';

export interface BlobSource extends SeekableSource {
  /** For messages: `file /tmp/…`, `127.0.0.1:5000/ns/app@sha256:…`. */
  readonly describe: string;
  /** Set when the blob lives in a registry: a target on the same registry can mount it from there. */
  readonly registry?: { client: RegistryClient; repository: string };
}

export function fileBlob(path: string): BlobSource {
  return {
    describe: `file ${path}`,
    open: (offset) => createReadStream(path, { start: offset, highWaterMark: 1024 * 1024 }),
  };
}

/** A blob stored inside a larger file (a bundle's tar entry): `size` bytes from `start`. */
export function fileRangeBlob(
  path: string,
  start: number,
  size: number,
  describe = `file ${path}`,
): BlobSource {
  return {
    describe,
    open: (offset) =>
      offset >= size
        ? Readable.from([])
        : createReadStream(path, {
            start: start + offset,
            end: start + size - 1,
            highWaterMark: 1024 * 1024,
          }),
  };
}

export function bytesBlob(bytes: Buffer, describe = 'memory'): BlobSource {
  return { describe, open: (offset) => Readable.from(offset < bytes.length ? [bytes.subarray(offset)] : []) };
}

/** A blob in a registry, read with Range from `offset`, resuming by itself when the body breaks. */
export function registryBlob(
  client: RegistryClient,
  repository: string,
  digest: string,
  size: number,
): BlobSource {
  return {
    describe: `${client.registry}/${repository}@${digest}`,
    registry: { client, repository },
    // Its GET is sent at open, and fails nothing before the first read: an upload opens it
    // before its session at the target, and the two answers overlap (registry/blobs.ts).
    openEarly: true,
    open: (offset) => resumableBlobStream(client, repository, digest, size, offset, { eager: true }),
  };
}
