// `arbor unpack`: images from a registry into flattened, file-deduplicated root file systems
// (DUCC's layout, see layout.ts and docs/unpack.md). Three steps:
// 1. resolve every reference to its manifest, config and layers — every problem reported
//    before anything is written;
// 2. build the chains that do not exist yet (one layer download each; chains shared by several
//    images are built once, in parallel where they do not depend on each other);
// 3. per image: the flat tree, the public path, and the metadata file last (the commit marker:
//    an image whose metadata is there and names the same manifest is not touched again).
import { existsSync } from 'node:fs';
import { lstat, mkdir, readFile, readlink, rename, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import { ensureDir } from '../ensure-dir.js';
import { ArborError, type Diagnostic, error } from '../errors.js';
import type { RegistryClient } from '../registry/client.js';
import { getImageConfigBytes } from '../registry/config-blob.js';
import { defaultChild, isIndex, type Manifest, type Platform } from '../registry/manifest-model.js';
import { writeFileAtomic } from '../write-atomic.js';
import { buildChain, type ChainEnv } from './chain-builder.js';
import { chainIds } from './chain-id.js';
import { decompressorFor, type LayerRef } from './layer-stream.js';
import { type ImageName, Layout, relativeLink } from './layout.js';
import { formatOutputName, tagMatcher } from './recipe.js';
import { ContentStore, type StoreStats } from './store.js';
import type { UnpackTarget } from './targets.js';
import { onInterrupt, removeOwnWork, sweepStaleWork } from './work-dirs.js';

export interface UnpackOptions {
  out: string;
  targets: UnpackTarget[];
  /** Which image of a multi-platform index (default: this machine's, as `docker pull`). */
  platform?: Platform;
  /** Layer directories with overlayfs whiteouts instead of the tar's `.wh.` files. */
  overlayWhiteouts: boolean;
  /** Chains built at once (each streams one layer). */
  concurrency: number;
  clientFor: (target: UnpackTarget) => RegistryClient;
  warn: (message: string) => void;
  /** Called as each image is done (for progress lines). */
  onImage?: (result: ImageResult) => void;
}

export interface ResolvedImage {
  target: UnpackTarget;
  name: ImageName;
  publicName: string;
  manifestDigest: string;
  manifest: Buffer;
  mediaType: string;
  platform?: string;
  configDigest: string;
  layers: LayerRef[];
  chainIds: string[];
  /**
   * Why this machine cannot read one of its layers (zstd before Node 22.15, a foreign layer): the
   * image fails, the others are still unpacked.
   */
  unreadable?: string;
}

export interface ImageResult {
  reference: string;
  origin: string;
  status: 'unpacked' | 'unchanged' | 'failed';
  manifestDigest?: string;
  /** The flat tree, relative to the output directory. */
  flat?: string;
  chainsBuilt: number;
  error?: string;
}

export interface UnpackReport {
  out: string;
  images: ImageResult[];
  chainsBuilt: number;
  layersDownloaded: number;
  bytesDownloaded: number;
  layerDirsWritten: number;
  store: StoreStats;
}

const METADATA_VERSION = 1;

export async function unpackImages(options: UnpackOptions): Promise<UnpackReport> {
  const resolved = await resolveImages(options);
  const layout = new Layout(path.resolve(options.out));
  await ensureDir(layout.root);
  const workDirs = [layout.tmpDir(), path.join(layout.storeDir(), '.tmp')];
  for (const dir of workDirs) await sweepStaleWork(dir);
  // Ctrl-C ends the process where it stands: its own work goes first (docs: .tmp holds running
  // unpacks' work only). Nothing was published for the work that is cut short.
  const stopWatching = onInterrupt(() => {
    for (const dir of workDirs) removeOwnWork(dir);
  });
  try {
    return await unpackInto(options, resolved, layout);
  } finally {
    stopWatching();
  }
}

async function unpackInto(
  options: UnpackOptions,
  resolved: ResolvedImage[],
  layout: Layout,
): Promise<UnpackReport> {
  const keepOwner = process.getuid?.() === 0;
  if (!keepOwner)
    options.warn('not running as root: files belong to the current user, not the images’ uid/gid');
  const store = new ContentStore(layout.storeDir(), { keepOwner, warn: options.warn });
  await store.open();
  const env: ChainEnv = {
    layout,
    store,
    keepOwner,
    overlayWhiteouts: options.overlayWhiteouts,
    warn: options.warn,
  };

  const limit = pLimit(Math.max(1, options.concurrency));
  const building = new Map<string, Promise<void>>();
  const report: UnpackReport = {
    out: layout.root,
    images: [],
    chainsBuilt: 0,
    layersDownloaded: 0,
    bytesDownloaded: 0,
    layerDirsWritten: 0,
    store: store.stats,
  };

  /** Chain i of an image, and every chain below it that is missing; each built once per run. */
  const ensureChain = (image: ResolvedImage, i: number, built: { count: number }): Promise<void> => {
    const id = image.chainIds[i]!;
    const pending = building.get(id);
    if (pending) return pending;
    if (existsSync(layout.chainDir(id))) return Promise.resolve();
    const job = (async () => {
      if (i > 0) await ensureChain(image, i - 1, built);
      await limit(async () => {
        const layer = image.layers[i]!;
        const result = await buildChain(env, {
          client: options.clientFor(image.target),
          repository: image.name.repository,
          layer,
          chainId: id,
          parentChainId: i > 0 ? image.chainIds[i - 1]! : null,
        });
        report.chainsBuilt++;
        report.layersDownloaded++;
        report.bytesDownloaded += layer.size;
        if (result.layerDirWritten) report.layerDirsWritten++;
        built.count++;
      });
    })();
    building.set(id, job);
    return job;
  };

  const unique = new Map<string, ResolvedImage>();
  for (const image of resolved) if (!unique.has(image.publicName)) unique.set(image.publicName, image);

  await Promise.all(
    [...unique.values()].map(async (image) => {
      const built = { count: 0 };
      let result: ImageResult;
      try {
        if (image.unreadable) throw new Error(image.unreadable);
        if (await isUnchanged(layout, image)) {
          result = baseResult(image, 'unchanged', layout, 0);
        } else {
          if (image.chainIds.length > 0) await ensureChain(image, image.chainIds.length - 1, built);
          await publish(layout, image);
          result = baseResult(image, 'unpacked', layout, built.count);
        }
      } catch (e) {
        result = { ...baseResult(image, 'failed', layout, built.count), error: (e as Error).message };
      }
      report.images.push(result);
      options.onImage?.(result);
    }),
  );
  report.images.sort((a, b) => (a.reference < b.reference ? -1 : 1));
  return report;
}

function baseResult(
  image: ResolvedImage,
  status: ImageResult['status'],
  layout: Layout,
  chainsBuilt: number,
): ImageResult {
  return {
    reference: image.publicName,
    origin: image.target.origin,
    status,
    manifestDigest: image.manifestDigest,
    ...(status !== 'failed' ? { flat: path.relative(layout.root, layout.flat(image.configDigest)) } : {}),
    chainsBuilt,
  };
}

// ---------------------------------------------------------------------------------------------
// 1. Resolve

function describe(target: UnpackTarget, ref: string | undefined = target.tag ?? target.digest): string {
  return `${target.registry}/${target.repository}${ref === target.digest ? `@${ref}` : `:${ref}`}`;
}

/** Every reference to manifest, config and layers; all problems at once, before any write. */
export async function resolveImages(options: UnpackOptions): Promise<ResolvedImage[]> {
  const diagnostics: Diagnostic[] = [];
  const limit = pLimit(8);
  // A registry error names the reference already when it is the one asked for.
  const fail = (target: UnpackTarget, message: string) =>
    diagnostics.push(
      error(message.startsWith(`${target.origin}: `) ? message : `${target.origin}: ${message}`),
    );
  const expanded = (
    await Promise.all(
      options.targets.map((target) =>
        limit(async () => {
          if (target.tagPattern === undefined) return [target];
          try {
            const tags = (await options.clientFor(target).listTags(target.repository)).filter(
              tagMatcher(target.tagPattern),
            );
            if (tags.length === 0)
              fail(
                target,
                `no tag of ${target.registry}/${target.repository} matches "${target.tagPattern}"`,
              );
            return tags.sort().map((tag) => {
              const { tagPattern: _pattern, ...rest } = target;
              return { ...rest, tag };
            });
          } catch (e) {
            fail(target, (e as Error).message);
            return [];
          }
        }),
      ),
    )
  ).flat();
  const images = await Promise.all(
    expanded.map((target) =>
      limit(async () => {
        try {
          return await resolveOne(options, target);
        } catch (e) {
          fail(target, (e as Error).message);
          return undefined;
        }
      }),
    ),
  );
  if (diagnostics.length > 0) throw new ArborError(diagnostics);
  return images.filter((i): i is ResolvedImage => i !== undefined);
}

async function resolveOne(options: UnpackOptions, target: UnpackTarget): Promise<ResolvedImage> {
  const client = options.clientFor(target);
  const ref = target.digest ?? target.tag ?? 'latest';
  let manifest: Manifest = await client.getManifest(target.repository, ref);
  let platform: string | undefined;
  if (isIndex(manifest.json)) {
    const child = defaultChild(manifest.json, options.platform);
    const wanted = options.platform ?? undefined;
    if (
      !child ||
      (wanted && (child.platform?.os !== wanted.os || child.platform?.architecture !== wanted.architecture))
    )
      throw new Error(
        `${describe(target)} has no image for ${wanted ? `${wanted.os}/${wanted.architecture}` : 'this platform'}`,
      );
    platform = child.platform ? `${child.platform.os}/${child.platform.architecture}` : undefined;
    manifest = await client.getManifest(target.repository, child.digest);
    if (isIndex(manifest.json)) throw new Error(`${describe(target)}: nested index is not supported`);
  }
  const json = manifest.json as Exclude<Manifest['json'], { manifests: unknown }>;
  const configDigest = json.config.digest;
  let config: Promise<Buffer> | undefined;
  const readConfig = () => (config ??= getImageConfigBytes(client.context, target.repository, configDigest));
  // A single-platform image asked for by platform: its config says which it is.
  if (platform === undefined && options.platform) {
    const actual = platformOf(await readConfig());
    const wanted = options.platform;
    if (actual && (actual.os !== wanted.os || actual.architecture !== wanted.architecture))
      throw new Error(
        `${describe(target)} is a ${actual.os}/${actual.architecture} image, not ${wanted.os}/${wanted.architecture}`,
      );
  }
  // An image unpacked before under this name needs no config read: its metadata has the diff_ids.
  const diffIds = (await knownDiffIds(options.out, target, manifest.digest)) ?? diffIdsOf(await readConfig());
  if (!diffIds) throw new Error(`${describe(target)}: image config has no rootfs.diff_ids`);
  if (diffIds.length !== json.layers.length)
    throw new Error(
      `${describe(target)}: ${json.layers.length} layers but ${diffIds.length} diff_ids in the config`,
    );
  const layers: LayerRef[] = json.layers.map((l, i) => ({
    digest: l.digest,
    mediaType: l.mediaType,
    size: l.size,
    diffId: diffIds[i]!,
  }));
  const unreadable = layers
    .map((layer) => ({ layer, how: decompressorFor(layer.mediaType) }))
    .find(({ how }) => typeof how === 'string');
  const name: ImageName = {
    registry: target.registry,
    repository: target.repository,
    ...(target.tag !== undefined ? { tag: target.tag } : {}),
    ...(target.tag === undefined ? { digest: manifest.digest } : {}),
  };
  return {
    target,
    name,
    publicName: new Layout('/').publicName(name),
    manifestDigest: manifest.digest,
    manifest: manifest.bytes,
    mediaType: manifest.mediaType,
    ...(platform ? { platform } : {}),
    configDigest,
    layers,
    chainIds: chainIds(diffIds),
    ...(unreadable
      ? { unreadable: `${describe(target)}: layer ${unreadable.layer.digest}: ${unreadable.how}` }
      : {}),
  };
}

async function knownDiffIds(
  out: string,
  target: UnpackTarget,
  manifestDigest: string,
): Promise<string[] | null> {
  if (target.tag === undefined) return null;
  const name = { registry: target.registry, repository: target.repository, tag: target.tag };
  try {
    const file = path.join(new Layout(path.resolve(out)).metadataDir(name), 'image.json');
    const meta = JSON.parse(await readFile(file, 'utf8')) as {
      manifestDigest?: string;
      layers?: { diffId?: unknown }[];
    };
    if (meta.manifestDigest !== manifestDigest || !Array.isArray(meta.layers)) return null;
    const ids = meta.layers.map((l) => l.diffId);
    return ids.every((d): d is string => typeof d === 'string' && /^sha256:[0-9a-f]{64}$/.test(d))
      ? ids
      : null;
  } catch {
    return null;
  }
}

/** The os and architecture an image config names, if it names both. */
function platformOf(config: Buffer): { os: string; architecture: string } | null {
  try {
    const json = JSON.parse(config.toString('utf8')) as { os?: unknown; architecture?: unknown };
    return typeof json.os === 'string' && typeof json.architecture === 'string'
      ? { os: json.os, architecture: json.architecture }
      : null;
  } catch {
    return null;
  }
}

function diffIdsOf(config: Buffer): string[] | null {
  try {
    const json = JSON.parse(config.toString('utf8')) as { rootfs?: { diff_ids?: unknown } };
    const ids = json.rootfs?.diff_ids;
    if (!Array.isArray(ids) || !ids.every((d) => typeof d === 'string' && /^sha256:[0-9a-f]{64}$/.test(d)))
      return null;
    return ids as string[];
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// 3. Publish

async function isUnchanged(layout: Layout, image: ResolvedImage): Promise<boolean> {
  try {
    const meta = JSON.parse(
      await readFile(path.join(layout.metadataDir(image.name), 'image.json'), 'utf8'),
    ) as {
      manifestDigest?: string;
    };
    if (meta.manifestDigest !== image.manifestDigest) return false;
    const link = layout.publicPath(image.name);
    return (
      (await readlink(link)) === relativeLink(link, layout.flat(image.configDigest)) &&
      existsSync(layout.flat(image.configDigest))
    );
  } catch {
    return false;
  }
}

async function publish(layout: Layout, image: ResolvedImage): Promise<void> {
  const flat = layout.flat(image.configDigest);
  await mkdir(path.dirname(flat), { recursive: true });
  const last = image.chainIds[image.chainIds.length - 1];
  if (last === undefined) await mkdir(flat, { recursive: true, mode: 0o755 });
  else await replaceSymlink(flat, relativeLink(flat, layout.chainDir(last)));

  const publicPath = layout.publicPath(image.name);
  await mkdir(path.dirname(publicPath), { recursive: true });
  await replaceSymlink(publicPath, relativeLink(publicPath, flat));

  const metaDir = layout.metadataDir(image.name);
  await mkdir(metaDir, { recursive: true });
  await writeFileAtomic(path.join(metaDir, 'manifest.json'), image.manifest);
  const outputName =
    image.target.outputFormat !== undefined
      ? formatOutputName(image.target.outputFormat, {
          scheme: image.target.insecure ? 'http' : 'https',
          ...image.name,
        })
      : undefined;
  const record = {
    formatVersion: METADATA_VERSION,
    reference: image.publicName,
    origin: image.target.origin,
    registry: image.name.registry,
    repository: image.name.repository,
    ...(image.name.tag !== undefined ? { tag: image.name.tag } : {}),
    manifestDigest: image.manifestDigest,
    mediaType: image.mediaType,
    ...(image.platform ? { platform: image.platform } : {}),
    configDigest: image.configDigest,
    layers: image.layers.map((l, i) => ({ ...l, chainId: image.chainIds[i] })),
    chainId: last ?? null,
    flat: path.relative(layout.root, flat),
    ...(outputName ? { outputName } : {}),
  };
  // Last: its presence says the image is whole (see isUnchanged).
  await writeFileAtomic(path.join(metaDir, 'image.json'), `${JSON.stringify(record, null, 2)}\n`);
}

/** Points `link` at `target`, replacing an older link atomically; never replaces a real directory. */
async function replaceSymlink(link: string, target: string): Promise<void> {
  try {
    const st = await lstat(link);
    if (!st.isSymbolicLink())
      throw new Error(`${link} exists and is not a symlink; arbor does not replace it`);
    if ((await readlink(link)) === target) return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const temp = `${link}.tmp-${process.pid}`;
  await rm(temp, { force: true });
  await symlink(target, temp);
  await rename(temp, link);
}
