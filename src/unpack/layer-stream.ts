// A layer blob from the registry as a stream of tar entries: never held in memory, decompressed
// on the fly (node:zlib), parsed by tar-stream, and checked on the way: the compressed bytes
// against the manifest's digest, the tar against the config's diff_id. A mismatch is found only
// at the end, so callers write into temporary directories and commit after the check passed.
import { createHash } from 'node:crypto';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { type Header, extract as tarExtract } from 'tar-stream';
import type { RegistryClient } from '../registry/client.js';
import { resumableBlobStream } from '../transfer/download.js';
import type { EntryMeta, EntryType, LayerEntry } from './apply-layer.js';

export interface LayerRef {
  digest: string;
  mediaType: string;
  size: number;
  diffId: string;
}

export interface TarItem {
  header: Header;
  /** null for entry types that have no place in a root file system (skipped). */
  entry: LayerEntry | null;
  stream: Readable;
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
  const extract = tarExtract();
  const inflate = decompress();
  const stages: (Readable | Transform)[] = [blob.stream, hashing(compressed)];
  if (inflate) stages.push(inflate, hashing(uncompressed));
  const intoExtract = async (source: AsyncIterable<Buffer>) => {
    for await (const chunk of source) {
      if (!extract.write(chunk)) await new Promise<void>((resolve) => extract.once('drain', () => resolve()));
    }
    (extract as unknown as { end(): void }).end();
  };
  const feeding = (pipeline as unknown as (...streams: unknown[]) => Promise<void>)(
    ...stages,
    intoExtract,
  ).catch((e: unknown) => {
    extract.destroy(e as Error);
    throw e;
  });
  // Its failure reaches the consumer through `extract`; while the consumer is paused at a yield
  // (writing an entry), the rejection must not count as unhandled and end the process.
  feeding.catch(() => undefined);
  // A consumer that stops early (a refused entry) must not leave the download running.
  let completed = false;
  try {
    for await (const stream of extract) {
      const header = (stream as unknown as { header: Header }).header;
      yield { header, entry: toLayerEntry(header), stream: stream as unknown as Readable };
      (stream as unknown as Readable).resume();
    }
    await feeding;
    completed = true;
  } finally {
    if (!completed) {
      blob.stream.destroy();
      extract.destroy(new Error('layer reading stopped'));
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

const TYPES: Partial<Record<Header['type'], EntryType>> = {
  file: 'file',
  'contiguous-file': 'file',
  directory: 'dir',
  symlink: 'symlink',
  link: 'hardlink',
  'character-device': 'char',
  'block-device': 'block',
  fifo: 'fifo',
};

const XATTR_PREFIX = 'SCHILY.xattr.';

/** The tar header as layer application needs it; PAX uid/gid and xattrs included. */
export function toLayerEntry(header: Header): LayerEntry | null {
  const type = TYPES[header.type];
  if (!type) return null;
  const pax = (header.pax ?? {}) as Record<string, string>;
  const xattrs: Record<string, Buffer> = {};
  for (const [key, value] of Object.entries(pax)) {
    if (key.startsWith(XATTR_PREFIX)) xattrs[key.slice(XATTR_PREFIX.length)] = Buffer.from(value, 'utf8');
  }
  const meta: EntryMeta = {
    mode: (header.mode ?? 0o644) & 0o7777,
    uid: pax.uid !== undefined ? Number(pax.uid) : (header.uid ?? 0),
    gid: pax.gid !== undefined ? Number(pax.gid) : (header.gid ?? 0),
    mtime: header.mtime ? header.mtime.getTime() : 0,
    ...(Object.keys(xattrs).length > 0 ? { xattrs } : {}),
  };
  return {
    name: header.name,
    type,
    meta,
    ...(header.linkname ? { linkname: header.linkname } : {}),
    ...(type === 'char' || type === 'block'
      ? { devmajor: header.devmajor ?? 0, devminor: header.devminor ?? 0 }
      : {}),
  };
}
