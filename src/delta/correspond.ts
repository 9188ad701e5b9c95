// Publish side, pure: which old layer each new layer of an image gets a delta against. For every
// candidate old image (the same image's previous release, optionally older ones so that sites a
// few releases behind are served too), each new layer that the candidate does not already have is
// paired with the candidate's layer that most likely holds the same files:
//   1. the layer made by the same Dockerfile step (the image config's history, with the content
//      hashes docker writes into `ADD file:<hex>` taken out),
//   2. else the layer at the same position, when its size is within a factor of 4,
//   3. else the unpaired layer closest in size, within a factor of 2.
// An old layer serves one new layer per candidate. Layers the new image shares with a candidate
// need no delta (a site holding that candidate has them).
import type { Descriptor } from '../registry/manifest-model.js';

/** Below this, a layer is fetched whole: a delta's artifact costs more round trips than it saves. */
export const MIN_DELTA_LAYER_BYTES = 64 * 1024;

export interface ImageLayers {
  layers: readonly Descriptor[];
  /** The Dockerfile step of each layer (same order), when the config's history says. */
  commands?: readonly (string | undefined)[];
}

export type PairedBy = 'same-command' | 'position' | 'size';

export interface LayerPair {
  target: Descriptor;
  base: Descriptor;
  /** Index into the candidates. */
  candidate: number;
  pairedBy: PairedBy;
}

export interface LayerDeltaPlan {
  pairs: LayerPair[];
  /** New layers some candidate already has. */
  shared: Descriptor[];
  /** New layers that get no delta, and why. */
  unpaired: { target: Descriptor; reason: string }[];
}

const POSITION_RATIO = 4;
const SIZE_RATIO = 2;

function ratio(a: number, b: number): number {
  const lo = Math.max(1, Math.min(a, b));
  return Math.max(a, b) / lo;
}

/** A history step without what changes between otherwise equal builds (content hashes, spacing). */
export function normalizeCommand(command: string): string {
  return command
    .replace(/\b(file|dir|multi):[0-9a-f]{16,}/g, '$1:')
    .replace(/\s+/g, ' ')
    .trim();
}

/** created_by of each layer, from an image config's history; undefined when it does not add up. */
export function layerCommands(config: unknown, layerCount: number): (string | undefined)[] | undefined {
  const history = (config as { history?: unknown } | null)?.history;
  if (!Array.isArray(history)) return undefined;
  const steps = history
    .filter((h) => typeof h === 'object' && h !== null && !(h as { empty_layer?: boolean }).empty_layer)
    .map((h) => (h as { created_by?: unknown }).created_by);
  if (steps.length !== layerCount) return undefined;
  return steps.map((c) => (typeof c === 'string' ? c : undefined));
}

function pairWithCandidate(
  image: ImageLayers,
  candidate: ImageLayers,
  index: number,
  targets: readonly Descriptor[],
): LayerPair[] {
  const newDigests = new Set(image.layers.map((l) => l.digest));
  // Old layers the new image dropped: only those can be bases (a kept layer is no one's old version).
  const free = new Map<number, Descriptor>();
  candidate.layers.forEach((l, i) => {
    if (!newDigests.has(l.digest)) free.set(i, l);
  });
  const pairs: LayerPair[] = [];
  const take = (target: Descriptor, at: number, pairedBy: PairedBy) => {
    pairs.push({ target, base: free.get(at)!, candidate: index, pairedBy });
    free.delete(at);
  };
  const positionOf = (target: Descriptor) => image.layers.indexOf(target);
  const remaining: Descriptor[] = [];

  const step = (commands: ImageLayers['commands'], at: number) => {
    const command = commands?.[at];
    return command === undefined ? undefined : normalizeCommand(command);
  };
  for (const target of targets) {
    const command = step(image.commands, positionOf(target));
    const same = command ? [...free.keys()].filter((i) => step(candidate.commands, i) === command) : [];
    if (same.length === 1) take(target, same[0]!, 'same-command');
    else remaining.push(target);
  }
  const bySize: Descriptor[] = [];
  for (const target of remaining) {
    const at = positionOf(target);
    const old = free.get(at);
    if (old && ratio(old.size, target.size) <= POSITION_RATIO) take(target, at, 'position');
    else bySize.push(target);
  }
  for (const target of bySize) {
    let best: number | undefined;
    for (const [i, old] of free)
      if (best === undefined || ratio(old.size, target.size) < ratio(free.get(best)!.size, target.size))
        best = i;
    if (best !== undefined && ratio(free.get(best)!.size, target.size) <= SIZE_RATIO)
      take(target, best, 'size');
  }
  return pairs;
}

/** The deltas to compute for `image` against the candidates (each pair once per distinct base). */
export function planLayerDeltas(
  image: ImageLayers,
  candidates: readonly ImageLayers[],
  options: { minLayerBytes?: number } = {},
): LayerDeltaPlan {
  const minBytes = options.minLayerBytes ?? MIN_DELTA_LAYER_BYTES;
  const inCandidates = new Set(candidates.flatMap((c) => c.layers.map((l) => l.digest)));
  const shared: Descriptor[] = [];
  const unpaired: LayerDeltaPlan['unpaired'] = [];
  const targets: Descriptor[] = [];
  const seen = new Set<string>();
  for (const layer of image.layers) {
    if (seen.has(layer.digest)) continue;
    seen.add(layer.digest);
    if (inCandidates.has(layer.digest)) shared.push(layer);
    else if (layer.size < minBytes)
      unpaired.push({ target: layer, reason: `small layer (${layer.size} B): sent whole` });
    else targets.push(layer);
  }
  const pairs: LayerPair[] = [];
  const pairKeys = new Set<string>();
  candidates.forEach((candidate, index) => {
    for (const pair of pairWithCandidate(image, candidate, index, targets)) {
      const key = `${pair.base.digest} ${pair.target.digest}`;
      if (pairKeys.has(key)) continue;
      pairKeys.add(key);
      pairs.push(pair);
    }
  });
  for (const target of targets)
    if (!pairs.some((p) => p.target.digest === target.digest))
      unpaired.push({
        target,
        reason:
          candidates.length === 0
            ? 'no previous image to compute a delta against'
            : 'no corresponding layer in the previous image(s)',
      });
  return { pairs, shared, unpaired };
}
