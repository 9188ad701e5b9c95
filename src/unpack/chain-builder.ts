// Builds one chain: the parent chain cloned (or an empty root), one layer streamed from the
// registry and applied entry by entry, and — when nobody wrote it before — the layer's own
// directory from the same pass. Everything happens in a private work directory and is renamed
// into place only after the layer's digests checked out, so an interrupted or refused layer
// leaves no chain, no layer directory and nothing outside the output directory.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { RegistryClient } from '../registry/client.js';
import { writeFileAtomic } from '../write-atomic.js';
import { applyEntry, LayerEntryError, startLayer } from './apply-layer.js';
import { cloneTree } from './clone.js';
import { DiskTree } from './disk-tree.js';
import { type LayerRef, readLayer } from './layer-stream.js';
import type { Layout } from './layout.js';
import type { ContentStore } from './store.js';
import { SystemToolError } from './system.js';
import { TarFormatError } from './tar-reader.js';
import { TreeIndex } from './tree-index.js';

export interface ChainEnv {
  layout: Layout;
  store: ContentStore;
  keepOwner: boolean;
  overlayWhiteouts: boolean;
  warn: (message: string) => void;
}

export interface ChainJob {
  client: RegistryClient;
  repository: string;
  layer: LayerRef;
  chainId: string;
  parentChainId: string | null;
}

export interface ChainResult {
  layerDirWritten: boolean;
  entries: number;
}

/** A layer arbor refuses, or a layer that is not what its digests say. */
export class LayerApplyError extends Error {
  constructor(
    readonly layer: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`layer ${layer}: ${message}`, options);
    this.name = 'LayerApplyError';
  }
}

type DirXattrs = Map<string, Record<string, Buffer>>;

// Paths in the JSON file: UTF-8 text when the name's bytes are UTF-8 (as files written before
// names were kept as bytes), `\0hex:` and the bytes otherwise.
const HEX_KEY = '\0hex:';

function keyToJson(path: string): string {
  const bytes = Buffer.from(path, 'latin1');
  const text = bytes.toString('utf8');
  return Buffer.from(text).equals(bytes) ? text : `${HEX_KEY}${bytes.toString('hex')}`;
}

function keyFromJson(key: string): string {
  if (key.startsWith(HEX_KEY)) return Buffer.from(key.slice(HEX_KEY.length), 'hex').toString('latin1');
  return Buffer.from(key).toString('latin1');
}

async function readDirXattrs(file: string): Promise<DirXattrs> {
  if (!existsSync(file)) return new Map();
  const json = JSON.parse(await readFile(file, 'utf8')) as Record<string, Record<string, string>>;
  return new Map(
    Object.entries(json).map(([dir, attrs]) => [
      keyFromJson(dir),
      Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, Buffer.from(v, 'hex')])),
    ]),
  );
}

function dirXattrsJson(map: DirXattrs, index: TreeIndex): string | null {
  const out: Record<string, Record<string, string>> = {};
  for (const [dir, attrs] of [...map].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (dir !== '' && index.kind(dir) !== 'dir') continue;
    out[keyToJson(dir)] = Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, v.toString('hex')]));
  }
  return Object.keys(out).length > 0 ? JSON.stringify(out) : null;
}

export async function buildChain(env: ChainEnv, job: ChainJob): Promise<ChainResult> {
  const { layout } = env;
  await mkdir(layout.tmpDir(), { recursive: true });
  const work = await mkdtemp(path.join(layout.tmpDir(), `${process.pid}-`));
  try {
    const rootfs = path.join(work, 'rootfs');
    let index: TreeIndex;
    let inherited: DirXattrs = new Map();
    if (job.parentChainId) {
      index = (await cloneTree(layout.chainDir(job.parentChainId), rootfs, env.keepOwner)).index;
      inherited = await readDirXattrs(layout.chainDirXattrs(job.parentChainId));
    } else {
      index = new TreeIndex();
      await mkdir(rootfs, { mode: 0o755 });
    }
    const disk = { store: env.store, keepOwner: env.keepOwner, warn: env.warn, scratch: work };
    const chain = new DiskTree(rootfs, disk, inherited);
    const chainApp = startLayer(index, 'merge');

    const writeLayerDir = !existsSync(layout.layerDir(job.layer.digest));
    const layerfs = path.join(work, 'layer', 'layerfs');
    if (writeLayerDir) await mkdir(layerfs, { recursive: true, mode: 0o755 });
    const layerTree = writeLayerDir ? new DiskTree(layerfs, disk) : undefined;
    const layerApp = writeLayerDir
      ? startLayer(new TreeIndex(), env.overlayWhiteouts ? 'overlay' : 'aufs')
      : undefined;

    let entries = 0;
    try {
      for await (const item of readLayer(job.client, job.repository, job.layer)) {
        entries++;
        const entry = item.entry;
        let stored: Promise<string> | undefined;
        const content = () => {
          stored ??= env.store.put(item.stream, item.header.size, entry.meta);
          return stored;
        };
        try {
          await chain.execute(applyEntry(chainApp, entry), content);
          if (layerTree && layerApp)
            await layerTree.execute(applyEntry(layerApp, entry), content, (rel) => chain.abs(rel));
        } catch (e) {
          const reason = fileSystemRefusal(e);
          if (reason) throw new LayerEntryError(entry.name, reason);
          throw e;
        }
      }
    } catch (e) {
      if (e instanceof LayerEntryError) throw new LayerApplyError(job.layer.digest, e.message, { cause: e });
      if (e instanceof TarFormatError || (e instanceof Error && e.name === 'LayerFormatError'))
        throw new LayerApplyError(job.layer.digest, e.message, { cause: e });
      throw e;
    }
    await chain.finish();
    await layerTree?.finish();

    if (layerTree) {
      const meta = {
        digest: job.layer.digest,
        diffId: job.layer.diffId,
        mediaType: job.layer.mediaType,
        size: job.layer.size,
        whiteouts: env.overlayWhiteouts ? 'overlay' : 'aufs',
        entries,
      };
      await mkdir(path.join(work, 'layer', '.metadata'));
      await writeFileAtomic(
        path.join(work, 'layer', '.metadata', 'layer.json'),
        `${JSON.stringify(meta, null, 2)}\n`,
      );
      await commitDir(path.join(work, 'layer'), layout.layerDir(job.layer.digest));
    }
    const xattrs = dirXattrsJson(chain.dirXattrs, chainApp.index);
    if (xattrs) await writeFileAtomic(layout.chainDirXattrs(job.chainId), xattrs, { makeDirectory: true });
    await commitDir(rootfs, layout.chainDir(job.chainId));
    return { layerDirWritten: writeLayerDir, entries };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Why the file system refused an entry (a name too long for it, a target it rejects), without
 * the work directory's path: the layer and entry say where. Null for other errors (the network).
 */
function fileSystemRefusal(e: unknown): string | null {
  if (e instanceof SystemToolError && !e.missing) return `cannot be created: ${e.tool} failed`;
  const err = e as NodeJS.ErrnoException;
  if (!(e instanceof Error) || typeof err.code !== 'string' || err.path === undefined) return null;
  const comma = err.message.indexOf(', ');
  return `cannot be created: ${comma > 0 ? err.message.slice(0, comma) : err.code}`;
}

/** Renames a finished directory into place; when another run got there first, theirs stays. */
async function commitDir(from: string, to: string): Promise<void> {
  await mkdir(path.dirname(to), { recursive: true });
  try {
    await rename(from, to);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
  }
}
