// One image copied from a source registry to a target that holds an older release, each missing
// layer rebuilt from a delta where one serves, else fetched whole; config and manifests copied
// unchanged, so the image keeps its digest. A blob the target has in another repository is
// mounted, never fetched (`atTarget`, shared by the calls of one sync). The plain sequential flow
// (no resumption): what the tests and the benchmark drive, and a reference for the transfer
// engine of `arbor sync`, which plans across images and repositories.
import type { RegistryClient } from '../registry/client.js';
import { type Descriptor, isIndex, type Manifest } from '../registry/manifest-model.js';
import { chooseLayerSource, type LayerSource, wholeAfterFailedDelta } from './choose.js';
import { DeltaUnusable } from './errors.js';
import type { PublishedDelta } from './format.js';
import { deltasForImage, rebuildFromDelta } from './rebuild.js';

export interface CopyWithDeltasResult {
  digest: string;
  layers: { digest: string; source: LayerSource }[];
  /** Blob bytes taken from the source: delta artifacts, whole layers, configs (manifests not counted). */
  sourceBytes: number;
  /** Wall seconds spent rebuilding layers from deltas. */
  rebuildSeconds: number;
}

export interface CopyWithDeltasOptions {
  workDir?: string;
  signal?: AbortSignal;
  /**
   * Blobs known to be at the target: digest → a repository holding it. Read and extended, so the
   * calls of one sync share it and a layer common to many repositories crosses the link once.
   */
  atTarget?: Map<string, string>;
  /** false: whole blobs only (a baseline to compare with). */
  deltas?: boolean;
}

type Presence = { present: true; reason?: string } | { present: false; session?: string };

export async function copyImageWithDeltas(
  source: RegistryClient,
  sourceRepository: string,
  reference: string,
  target: RegistryClient,
  targetRepository: string,
  tags: string[],
  options: CopyWithDeltasOptions = {},
): Promise<CopyWithDeltasResult> {
  const result: CopyWithDeltasResult = { digest: '', layers: [], sourceBytes: 0, rebuildSeconds: 0 };
  const atTarget = options.atTarget ?? new Map<string, string>();

  /** In the repository, or mounted from another one at the target that has it. */
  const ensurePresent = async (digest: string): Promise<Presence> => {
    if (await target.headBlob(targetRepository, digest)) {
      atTarget.set(digest, targetRepository);
      return { present: true };
    }
    const elsewhere = atTarget.get(digest);
    if (!elsewhere || elsewhere === targetRepository) return { present: false };
    const mount = await target.mountBlob(targetRepository, digest, elsewhere);
    if (!mount.mounted) return { present: false, session: mount.session };
    atTarget.set(digest, targetRepository);
    return { present: true, reason: `mounted from ${elsewhere} at the target` };
  };

  const copyWhole = async (blob: Descriptor, session?: string) => {
    const open = async () => (await source.getBlob(sourceRepository, blob.digest)).stream;
    await target.uploadBlob(targetRepository, blob.digest, open, blob.size, session ? { session } : {});
    atTarget.set(blob.digest, targetRepository);
    result.sourceBytes += blob.size;
  };

  /** Where at the target each base of these deltas is (this repository first). */
  const locateBases = async (deltas: PublishedDelta[]): Promise<Map<string, string>> => {
    const bases = new Map<string, string>();
    for (const base of new Set(deltas.map((d) => d.base))) {
      if (await target.headBlob(targetRepository, base)) bases.set(base, targetRepository);
      else if (atTarget.has(base)) bases.set(base, atTarget.get(base)!);
    }
    return bases;
  };

  const rebuildInto = async (
    choice: Extract<LayerSource, { kind: 'delta' }>,
    layer: Descriptor,
    baseRepository: string,
    session: string | undefined,
  ): Promise<LayerSource> => {
    const started = performance.now();
    try {
      const rebuilt = await rebuildFromDelta(source, target, {
        sourceRepository,
        targetRepository: baseRepository,
        layer,
        delta: choice.delta,
        ...(options.workDir ? { workDir: options.workDir } : {}),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      try {
        await target.uploadBlob(
          targetRepository,
          rebuilt.digest,
          () => rebuilt.open(),
          rebuilt.size,
          session ? { session } : {},
        );
      } finally {
        await rebuilt.dispose();
      }
      atTarget.set(layer.digest, targetRepository);
      result.sourceBytes += rebuilt.sourceBytes;
      return choice;
    } catch (e) {
      if (!(e instanceof DeltaUnusable)) throw e;
      return wholeAfterFailedDelta(layer, choice.delta, e);
    } finally {
      result.rebuildSeconds += (performance.now() - started) / 1000;
    }
  };

  const copyLayers = async (manifest: Manifest): Promise<void> => {
    if (isIndex(manifest.json)) {
      for (const child of manifest.json.manifests) {
        const childManifest = await source.getManifest(sourceRepository, child.digest);
        await copyLayers(childManifest);
        await target.putManifest(
          targetRepository,
          child.digest,
          childManifest.bytes,
          childManifest.mediaType,
        );
      }
      return;
    }
    const listed =
      options.deltas === false
        ? { deltas: [], declined: [] }
        : await deltasForImage(source, sourceRepository, manifest.digest);
    const bases = await locateBases(listed.deltas);
    for (const layer of manifest.json.layers) {
      const presence = await ensurePresent(layer.digest);
      let choice = chooseLayerSource(layer, {
        presentAtTarget: presence.present,
        deltasAvailable: listed.deltas,
        declined: listed.declined,
        baseLayersAtTarget: new Set(bases.keys()),
      });
      const session = presence.present ? undefined : presence.session;
      if (choice.kind === 'present' && presence.present && presence.reason)
        choice = { ...choice, reason: presence.reason };
      if (choice.kind === 'delta')
        choice = await rebuildInto(choice, layer, bases.get(choice.delta.base)!, session);
      if (choice.kind === 'whole') await copyWhole(layer, session);
      result.layers.push({ digest: layer.digest, source: choice });
    }
    const config = await ensurePresent(manifest.json.config.digest);
    if (!config.present) await copyWhole(manifest.json.config, config.session);
  };

  const top = await source.getManifest(sourceRepository, reference);
  result.digest = top.digest;
  await copyLayers(top);
  for (const tag of tags.length > 0 ? tags : [top.digest])
    await target.putManifest(targetRepository, tag, top.bytes, top.mediaType);
  return result;
}
