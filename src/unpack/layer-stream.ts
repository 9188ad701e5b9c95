// A layer blob from the registry as a stream of tar entries: never held in memory, decompressed
// on the fly (node:zlib), read by tar-reader.ts, and checked on the way: the compressed bytes
// against the manifest's digest, the tar against the config's diff_id. A mismatch is found only
// at the end, so callers write into temporary directories and commit after the check passed.
// tar-reader.ts keeps names and PAX values as the layer's bytes.
import { createHash } from 'node:crypto';
import { PassThrough, type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import type { RegistryClient } from '../registry/client.js';
import { resumableBlobStream } from '../transfer/download.js';
import { type EntryMeta, type EntryType, type LayerEntry, LayerEntryError } from './apply-layer.js';
import { readTar, TarFormatError, type TarHeader } from './tar-reader.js';

export interface LayerRef {
  digest: string;
  mediaType: string;
  size: number;
  diffId: string;
}

export interface TarItem {
  header: TarHeader;
  entry: LayerEntry;
  /** The entry's content (read it whole, or leave it: it is skipped). */
  stream: AsyncIterable<Buffer>;
}

export class LayerFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LayerFormatError';
  }
}

type Decompressor = () => Transform | null;

/** How to read a layer of this media type, or why it cannot be read here. */
export function decompressorFor(mediaType: string): Decompressor | string {
  if (mediaType.includes('.foreign.') || mediaType.includes('nondistributable'))
    return `foreign layer (${mediaType}) has no content in the registry`;
  if (/tar\+gzip$|tar\.gzip$|\.tar\.gzip$/.test(mediaType) || mediaType.endsWith('rootfs.diff.tar.gzip'))
    return () => zlib.createGunzip();
  if (mediaType.endsWith('+zstd')) {
    const zstd = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;
    return zstd ? () => zstd() : `zstd layers need Node with zstd in node:zlib (22.15 or later)`;
  }
  if (/\.tar$|layer\.v1\.tar$/.test(mediaType)) return () => null;
  return `unknown layer media type ${mediaType}`;
}

function hashing(hash: ReturnType<typeof createHash>): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
}

/** Streams the layer's entries; the checks run when the last entry has been consumed. */
export async function* readLayer(
  client: RegistryClient,
  repository: string,
  layer: LayerRef,
): AsyncGenerator<TarItem> {
  const decompress = decompressorFor(layer.mediaType);
  if (typeof decompress === 'string') throw new LayerFormatError(decompress);
  // A download that breaks goes on from where it broke (Range), as bundle's and sync's do.
  const blob = {
    stream: resumableBlobStream(client, repository, layer.digest, layer.size, 0, { verify: false }),
  };
  const compressed = createHash('sha256');
  const uncompressed = createHash('sha256');
  const inflate = decompress();
  const tail = new PassThrough();
  const stages: (Readable | Transform)[] = [blob.stream, hashing(compressed)];
  if (inflate) stages.push(inflate, hashing(uncompressed));
  const feeding = (pipeline as unknown as (...streams: unknown[]) => Promise<void>)(...stages, tail).catch(
    (e: unknown) => {
      tail.destroy(e as Error);
      throw e;
    },
  );
  // Its failure reaches the consumer through `tail`; while the consumer is paused at a yield
  // (writing an entry), the rejection must not count as unhandled and end the process.
  feeding.catch(() => undefined);
  // A consumer that stops early (a refused entry) must not leave the download running.
  let completed = false;
  try {
    for await (const { header, body } of readTar(tail)) {
      yield { header, entry: toLayerEntry(header), stream: body };
    }
    await feeding;
    completed = true;
  } catch (e) {
    if (e instanceof TarFormatError) throw new LayerFormatError(e.message);
    throw e;
  } finally {
    if (!completed) {
      blob.stream.destroy();
      tail.destroy();
      await feeding.catch(() => undefined);
    }
  }
  const digest = `sha256:${compressed.digest('hex')}`;
  if (layer.digest.startsWith('sha256:') && digest !== layer.digest)
    throw new LayerFormatError(`content does not match its digest (got ${digest})`);
  const diffId = inflate ? `sha256:${uncompressed.digest('hex')}` : digest;
  if (diffId !== layer.diffId)
    throw new LayerFormatError(`uncompressed content does not match diff_id ${layer.diffId} (got ${diffId})`);
}

/** The tar type flags a root file system is made of ('7', contiguous, is a regular file to Linux). */
const TYPES: Record<string, EntryType> = {
  '0': 'file',
  '7': 'file',
  '5': 'dir',
  '2': 'symlink',
  '1': 'hardlink',
  '3': 'char',
  '4': 'block',
  '6': 'fifo',
};

const KNOWN_FLAGS: Record<string, string> = {
  S: 'a GNU old-style sparse file',
  V: 'a GNU volume label',
  M: 'a GNU multi-volume continuation',
  N: 'a GNU old long name',
  D: 'a GNU dump directory',
};

/** A flag as tar -tv would name it: the character, or its code when it is not printable. */
function describeFlag(flag: string): string {
  const code = flag.charCodeAt(0);
  const shown = code > 0x20 && code < 0x7f ? `'${flag}'` : `0x${code.toString(16).padStart(2, '0')}`;
  return KNOWN_FLAGS[flag] ? `${shown} (${KNOWN_FLAGS[flag]})` : shown;
}

/**
 * The tar header as layer application needs it. An unknown type is refused rather than skipped:
 * skipping would publish the image without that file (Docker refuses it too:
 * "unhandled tar header type").
 */
export function toLayerEntry(header: TarHeader): LayerEntry {
  const type = TYPES[header.typeflag];
  if (!type)
    throw new LayerEntryError(
      header.name,
      `has tar type ${describeFlag(header.typeflag)}, which arbor cannot unpack without losing the file`,
    );
  const meta: EntryMeta = {
    mode: header.mode & 0o7777,
    uid: header.uid,
    gid: header.gid,
    mtime: header.mtime,
    ...(Object.keys(header.xattrs).length > 0 ? { xattrs: header.xattrs } : {}),
  };
  return {
    name: header.name,
    type,
    meta,
    ...(header.linkname ? { linkname: header.linkname } : {}),
    ...(type === 'char' || type === 'block' ? { devmajor: header.devmajor, devminor: header.devminor } : {}),
  };
}
