// The pure half of sync: from what the target holds (tags, manifests, blobs) and the deltas the
// source publishes, each image's action and each missing layer's way over, and the totals counted
// once per distinct blob (the engine moves each blob once and mounts it elsewhere).
import { chooseLayerSource } from '../delta/choose.js';
import type { DeclinedDelta, PublishedDelta } from '../delta/format.js';
import type { Descriptor } from '../registry/manifest-model.js';
import type { SyncImage, SyncPlan } from './model.js';

export interface ImageFacts {
  name: string;
  sourceRepository: string;
  targetRepository: string;
  digest: string;
  tags: string[];
  /** Digest of each tag at the target (null: absent). */
  tagsAtTarget: Record<string, string | null>;
  /** The manifest is at the target already (undefined: not asked, every tag was on it). */
  manifestPresent?: boolean;
  /** The target answered 500 for the manifest (a link a crash left empty): copied again. */
  manifestUnreadable?: boolean;
  /** Tags the target answered 500 for (null in tagsAtTarget): written again. */
  unreadableTags?: string[];
  /** Config and layer blobs of the image (index children's too), when the manifest is missing. */
  blobs?: Descriptor[];
  deltas?: PublishedDelta[];
  declined?: DeclinedDelta[];
}

export interface SyncPlanInput {
  source: { registry: string; namespace: string };
  target: { registry: string; namespace: string };
  release: string;
  images: ImageFacts[];
  /** Blobs found at the target (in any repository of this sync). */
  presentAtTarget: ReadonlySet<string>;
  /** Layers at the target a delta may start from. */
  basesAtTarget: ReadonlySet<string>;
  /** false: never deltas (`--no-deltas`). */
  deltas: boolean;
  now?: string;
  /** Whether the site holds the release's record (undefined: not asked, as with --tag). */
  recordAtTarget?: boolean;
}

export function planSync(input: SyncPlanInput): SyncPlan {
  const seen = new Map<
    string,
    { how: 'present' | 'delta' | 'whole'; from: number; to: number; whole: number }
  >();
  const images = input.images.map((facts): SyncImage => {
    const tagsToWrite = facts.tags.filter((t) => facts.tagsAtTarget[t] !== facts.digest);
    const reasons = tagsToWrite.map((t) =>
      facts.unreadableTags?.includes(t)
        ? `tag ${t} is unreadable at the site (it answered 500): written again`
        : facts.tagsAtTarget[t]
          ? `tag ${t} moves from ${facts.tagsAtTarget[t]!.slice(7, 19)}`
          : `tag ${t} is new`,
    );
    const base = {
      name: facts.name,
      sourceRepository: facts.sourceRepository,
      targetRepository: facts.targetRepository,
      digest: facts.digest,
      tags: facts.tags,
      tagsToWrite,
    };
    if (tagsToWrite.length === 0)
      return { ...base, action: 'none', layers: [], reasons: ['already at the site'] };
    if (facts.manifestPresent !== false) return { ...base, action: 'tag', layers: [], reasons };
    const layers = (facts.blobs ?? []).map((blob) => {
      const source = chooseLayerSource(blob, {
        presentAtTarget: input.presentAtTarget,
        deltasAvailable: input.deltas ? (facts.deltas ?? []) : [],
        declined: input.deltas ? (facts.declined ?? []) : [],
        baseLayersAtTarget: input.basesAtTarget,
      });
      if (!seen.has(blob.digest))
        seen.set(blob.digest, {
          how: source.kind,
          from: source.kind === 'present' ? 0 : source.bytes,
          to: source.kind === 'present' ? 0 : blob.size,
          whole: source.kind === 'present' ? 0 : blob.size,
        });
      return { digest: blob.digest, size: blob.size, source };
    });
    const counts = (kind: string) => layers.filter((l) => l.source.kind === kind).length;
    return {
      ...base,
      action: 'copy',
      layers,
      reasons: [
        `${facts.manifestUnreadable ? 'unreadable at the site (it answered 500 for the manifest): written again' : 'not at the site'}: ${counts('present')} blob(s) there already, ${counts('delta')} from deltas, ${counts('whole')} whole`,
        ...reasons,
      ],
    };
  });
  const totals = [...seen.values()];
  const count = (a: SyncImage['action']) => images.filter((i) => i.action === a).length;
  return {
    formatVersion: 1,
    kind: 'sync',
    createdAt: input.now ?? new Date().toISOString(),
    source: input.source,
    target: input.target,
    release: input.release,
    images,
    summary: {
      copy: count('copy'),
      tag: count('tag'),
      none: count('none'),
      present: totals.filter((t) => t.how === 'present').length,
      delta: totals.filter((t) => t.how === 'delta').length,
      whole: totals.filter((t) => t.how === 'whole').length,
      bytesFromSource: totals.reduce((n, t) => n + t.from, 0),
      bytesToTarget: totals.reduce((n, t) => n + t.to, 0),
      bytesWithoutDeltas: totals.reduce((n, t) => n + t.whole, 0),
    },
    ...(input.recordAtTarget === false && images.every((i) => i.action === 'none')
      ? { record: 'missing' as const }
      : {}),
  };
}
