// A sync plan: per image of the release, what the site (target) registry lacks and where each
// missing layer will come from — already there, rebuilt from a delta, or fetched whole — with the
// bytes each way. Computed by plan.ts (pure) from what observe.ts read.
import type { LayerSource } from '../delta/choose.js';

export type SyncAction = 'copy' | 'tag' | 'none';

export interface SyncLayer {
  digest: string;
  size: number;
  source: LayerSource;
}

export interface SyncImage {
  name: string;
  sourceRepository: string;
  targetRepository: string;
  digest: string;
  action: SyncAction;
  tags: string[];
  tagsToWrite: string[];
  /** For `copy`: every blob (configs and layers, index children's included) and its way over. */
  layers: SyncLayer[];
  reasons: string[];
}

export interface SyncPlan {
  formatVersion: 1;
  kind: 'sync';
  createdAt: string;
  source: { registry: string; namespace: string };
  target: { registry: string; namespace: string };
  release: string;
  images: SyncImage[];
  summary: {
    copy: number;
    tag: number;
    none: number;
    /** Distinct blobs by how they arrive. */
    present: number;
    delta: number;
    whole: number;
    /** Bytes fetched from the source: delta blobs and whole blobs (manifests aside). */
    bytesFromSource: number;
    /** Bytes uploaded to the target: every missing blob in full. */
    bytesToTarget: number;
    /** What fetching every missing blob whole would have cost. */
    bytesWithoutDeltas: number;
  };
  /**
   * 'missing': every image is at the site but the release's record is not (a sync stopped
   * between its tag burst and the record); the sync writes it.
   */
  record?: 'missing';
}

export function syncHasChanges(plan: SyncPlan): boolean {
  return plan.images.some((i) => i.action !== 'none') || plan.record === 'missing';
}
