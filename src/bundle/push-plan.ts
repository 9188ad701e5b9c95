// What `bundle push` will do at the target, computed from the bundle's head and what the target
// answered (HEADs of manifests, tags and blobs): per image, the manifests to put, the blobs to
// upload (each once, into the first repository that needs it), to mount (another repository of
// the target holds it, or will once it is uploaded) or already there, and the tags that move.
// An update bundle's left-out blobs must already be at the target; when one is not, the plan
// names it and the image, and nothing is pushed. Pure.
import { isIndex } from '../registry/manifest-model.js';
import { repositoryIn } from '../release/record.js';
import { type BundleContent, type BundledImage, type BundleManifest, blobsReachable } from './contents.js';
import type { BundleToc } from './format.js';

/** What the target answered. Keys: `repository@digest`, `repository:tag`. */
export interface TargetState {
  manifests: ReadonlySet<string>;
  blobs: ReadonlySet<string>;
  tags: ReadonlyMap<string, string | null>;
}

export interface PushUnit {
  image: BundledImage;
  /** Repository at the target: `namespace/name`. */
  repository: string;
}

export interface TagMove {
  repository: string;
  tag: string;
  /** The digest the tag points at now, or null when it is new. */
  from: string | null;
  to: string;
}

export interface ImagePlan {
  name: string;
  repository: string;
  digest: string;
  /** Manifests (image, index children, referrers) not yet at the target. */
  manifestsToPut: number;
  upload: { blobs: number; bytes: number };
  mount: number;
  present: number;
  tags: TagMove[];
  /** Tags already pointing at the image. */
  unchangedTags: string[];
}

export interface MissingBlob {
  digest: string;
  size: number;
  image: string;
  repository: string;
}

export interface PushPlan {
  target: string;
  images: ImagePlan[];
  /** Every streamed blob of the file: the repositories still needing it, in order (the first uploads, the rest mount). */
  streamed: Map<string, string[]>;
  /** Repositories of the target known to hold each blob (mount sources). */
  holders: Map<string, string[]>;
  tagMoves: TagMove[];
  /** Left-out blobs of an update bundle that the target lacks: the push is refused. */
  missing: MissingBlob[];
  summary: {
    images: number;
    unchanged: number;
    manifests: number;
    upload: { blobs: number; bytes: number };
    mount: number;
    present: number;
    tags: number;
  };
}

export function pushUnits(content: BundleContent, namespace: string): PushUnit[] {
  return [...content.images]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.digest < b.digest ? -1 : 1))
    .map((image) => ({ image, repository: repositoryIn(namespace, image.name) }));
}

/** Manifests of a unit (the image, index children, referrers at any depth). */
export function unitManifests(content: BundleContent, unit: PushUnit): BundleManifest[] {
  return blobsReachable(content, unit.image.digest)
    .filter((b) => b.kind === 'manifest')
    .map((b) => content.manifests.get(b.digest)!);
}

/** A manifest's own blobs (config and layers), not those of its children. */
export function directBlobs(manifest: BundleManifest): { digest: string; size: number }[] {
  if (isIndex(manifest.json)) return [];
  return [manifest.json.config, ...manifest.json.layers].map((d) => ({ digest: d.digest, size: d.size }));
}

export function planPush(
  content: BundleContent,
  toc: BundleToc,
  target: { registry: string; namespace: string },
  state: TargetState,
): PushPlan {
  const units = pushUnits(content, target.namespace);
  const inFile = new Map(toc.blobs.map((b) => [b.digest, b]));
  const omitted = new Map((toc.since?.omitted ?? []).map((b) => [b.digest, b]));
  // Who holds what: observed blobs, and the blobs of manifests already at the target.
  const holders = new Map<string, string[]>();
  const hold = (digest: string, repository: string) => {
    const list = holders.get(digest) ?? [];
    if (!list.includes(repository)) list.push(repository);
    holders.set(digest, list);
  };
  for (const key of state.blobs) {
    const at = key.lastIndexOf('@');
    hold(key.slice(at + 1), key.slice(0, at));
  }
  for (const unit of units)
    for (const m of unitManifests(content, unit))
      if (state.manifests.has(`${unit.repository}@${m.digest}`))
        for (const b of directBlobs(m)) hold(b.digest, unit.repository);

  const streamed = new Map<string, string[]>();
  for (const b of toc.blobs) if (b.kind === 'blob') streamed.set(b.digest, []);
  const uploading = new Set<string>();
  const missing: MissingBlob[] = [];
  const tagMoves: TagMove[] = [];
  const images: ImagePlan[] = units.map((unit) => {
    const repo = unit.repository;
    const plan: ImagePlan = {
      name: unit.image.name,
      repository: repo,
      digest: unit.image.digest,
      manifestsToPut: 0,
      upload: { blobs: 0, bytes: 0 },
      mount: 0,
      present: 0,
      tags: [],
      unchangedTags: [],
    };
    const counted = new Set<string>();
    for (const m of unitManifests(content, unit)) {
      if (state.manifests.has(`${repo}@${m.digest}`)) continue;
      plan.manifestsToPut++;
      for (const b of directBlobs(m)) {
        if (counted.has(b.digest)) continue;
        counted.add(b.digest);
        const here = holders.get(b.digest)?.includes(repo) ?? false;
        if (here) {
          plan.present++;
          continue;
        }
        const list = streamed.get(b.digest);
        if (list && !list.includes(repo)) list.push(repo);
        const elsewhere = (holders.get(b.digest)?.length ?? 0) > 0 || uploading.has(b.digest);
        if (elsewhere) plan.mount++;
        else if (inFile.has(b.digest)) {
          uploading.add(b.digest);
          plan.upload.blobs++;
          plan.upload.bytes += b.size;
        } else if (omitted.has(b.digest)) {
          missing.push({ digest: b.digest, size: b.size, image: unit.image.name, repository: repo });
        }
        // A config or manifest is in the head (always in the file): counted as an upload above.
      }
    }
    for (const tag of [...unit.image.tags].sort()) {
      const from = state.tags.get(`${repo}:${tag}`) ?? null;
      if (from === unit.image.digest) plan.unchangedTags.push(tag);
      else plan.tags.push({ repository: repo, tag, from, to: unit.image.digest });
    }
    tagMoves.push(...plan.tags);
    return plan;
  });
  const sum = (f: (p: ImagePlan) => number) => images.reduce((n, p) => n + f(p), 0);
  return {
    target: target.namespace ? `${target.registry}/${target.namespace}` : target.registry,
    images,
    streamed,
    holders,
    tagMoves,
    missing,
    summary: {
      images: images.length,
      unchanged: images.filter((p) => p.manifestsToPut === 0 && p.tags.length === 0).length,
      manifests: sum((p) => p.manifestsToPut),
      upload: { blobs: sum((p) => p.upload.blobs), bytes: sum((p) => p.upload.bytes) },
      mount: sum((p) => p.mount),
      present: sum((p) => p.present),
      tags: tagMoves.length,
    },
  };
}

export function hasWork(plan: PushPlan): boolean {
  return plan.summary.manifests > 0 || plan.summary.tags > 0;
}
