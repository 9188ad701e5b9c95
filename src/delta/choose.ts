// Site side, pure: where a layer of an image being synced comes from — already at the target, rebuilt
// from a delta against a layer the target has, or fetched whole — with the reason a plan shows.
import type { Descriptor } from '../registry/manifest-model.js';
import { DOCKER_CONFIG, OCI_CONFIG } from '../registry/media-types.js';
import { MIN_DELTA_LAYER_BYTES } from './correspond.js';
import type { DeltaUnusable } from './errors.js';
import type { DeclinedDelta, PublishedDelta } from './format.js';
import { ZSTD_PATCH_ENCODING } from './zstd.js';

export type LayerSource =
  | { kind: 'present'; reason: string }
  /** `bytes`: what crosses the link (the delta blob). */
  | { kind: 'delta'; delta: PublishedDelta; bytes: number; reason: string }
  | { kind: 'whole'; bytes: number; reason: string };

export interface LayerSourceInputs {
  /** The layer is already at the target (a set: the target's blobs, by digest). */
  presentAtTarget: boolean | ReadonlySet<string>;
  /** Deltas listed among the image's referrers (any layer's; those for other layers are ignored). */
  deltasAvailable: readonly PublishedDelta[];
  /** Publishers' decisions not to publish a delta, for the reason. */
  declined?: readonly DeclinedDelta[];
  /** Layers the target has, by digest: the bases a delta can be applied to. */
  baseLayersAtTarget: ReadonlySet<string>;
}

/** `sha256:0123456789ab`: enough to tell layers apart in a plan. */
export function shortDigest(digest: string): string {
  return digest.slice(0, 'sha256:'.length + 12);
}

export function chooseLayerSource(layer: Descriptor, inputs: LayerSourceInputs): LayerSource {
  const present =
    typeof inputs.presentAtTarget === 'boolean'
      ? inputs.presentAtTarget
      : inputs.presentAtTarget.has(layer.digest);
  if (present) return { kind: 'present', reason: 'already at the target' };
  const whole = (reason: string): LayerSource => ({ kind: 'whole', bytes: layer.size, reason });

  const forLayer = inputs.deltasAvailable.filter((d) => d.target === layer.digest);
  const decodable = forLayer.filter((d) => d.encoding === ZSTD_PATCH_ENCODING);
  const usable = decodable.filter((d) => inputs.baseLayersAtTarget.has(d.base));
  if (usable.length > 0) {
    const best = usable.reduce((a, b) => (b.size < a.size ? b : a));
    if (best.size >= layer.size)
      return whole(`the delta (${best.size} B) is not smaller than the layer (${layer.size} B)`);
    return {
      kind: 'delta',
      delta: best,
      bytes: best.size,
      reason: `delta from ${shortDigest(best.base)}: ${best.size} B instead of ${layer.size} B`,
    };
  }
  if (decodable.length > 0) {
    const bases = [...new Set(decodable.map((d) => shortDigest(d.base)))].join(', ');
    return whole(`no delta base is at the target (deltas exist from ${bases})`);
  }
  if (forLayer.length > 0) {
    const encodings = [...new Set(forLayer.map((d) => d.encoding))].join(', ');
    return whole(`delta encoding not supported here: ${encodings}`);
  }
  const declined = (inputs.declined ?? []).filter((d) => d.target === layer.digest);
  if (declined.length > 0)
    return whole(`no delta: ${[...new Set(declined.map((d) => d.detail))].join('; ')}`);
  if (layer.mediaType === OCI_CONFIG || layer.mediaType === DOCKER_CONFIG)
    return whole(`image config (${layer.size} B): sent whole`);
  if (layer.size < MIN_DELTA_LAYER_BYTES) return whole(`small layer (${layer.size} B): sent whole`);
  return whole('no delta published for this layer');
}

/** The source after a rebuild from `delta` failed: the whole blob, saying why. */
export function wholeAfterFailedDelta(
  layer: Descriptor,
  delta: PublishedDelta,
  failure: DeltaUnusable,
): LayerSource {
  return {
    kind: 'whole',
    bytes: layer.size,
    reason: `delta from ${shortDigest(delta.base)} unusable (${failure.reason}: ${failure.message}): sent whole`,
  };
}
