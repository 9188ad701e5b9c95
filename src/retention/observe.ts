// What the registry holds, as retention needs it: for every selected repository, every tag
// (all pages), the digest each tag points at, and per distinct digest its manifest (children of
// an index, config and layer sizes) and its creation time from the image config. Every request
// goes through the registry client, behind one concurrency bound.
//
// Manifests and config blobs are read by digest, so they are taken from the digest cache when it
// holds them (hash checked on read) and stored there after a fetch. What tags point at is always
// asked live, in one of two ways chosen by the tag hints (tag-hints.ts): a HEAD with the full
// Accept list when the tag's last digest is cached (a second run over the same repositories only
// lists tags and HEADs them), else one GET of the manifest by tag (a first run costs one request
// per tag for the mapping and the manifest together, not a HEAD and then a GET). A tag the
// registry answers 500 for (a link a crash left empty, registry/unreadable.ts) is reported, not
// fatal: evaluate.ts deletes nothing in its repository, and the apply that rewrites it can run.
import pLimit, { type LimitFunction } from 'p-limit';
import type { RegistryClient } from '../registry/client.js';
import { getImageConfigBytes, parseImageConfig } from '../registry/config-blob.js';
import { describeRef } from '../registry/context.js';
import { isMarkerTag } from '../registry/deletion-guard.js';
import type { DigestCache } from '../registry/digest-cache.js';
import { unlessNotFound } from '../registry/errors.js';
import {
  defaultChild,
  type ImageManifestJson,
  isIndex,
  type Manifest,
  parseManifest,
} from '../registry/manifest-model.js';
import { isForeignLayer } from '../registry/media-types.js';
import { isUnreadable } from '../registry/unreadable.js';
import type { Artifact, RepositoryHistory, StoredBlob } from './model.js';
import type { Selections } from './select.js';
import { askTagWith, type TagHints, tagsFirstSeen } from './tag-hints.js';

/** The OCI referrers tag schema: `<algorithm>-<hex of the subject digest>`. */
const REFERRERS_TAG = /^sha256-[0-9a-f]{64}$/;

/**
 * Whether retention judges a tag: not the referrers fallback tags (`sha256-<hex>`, the index of
 * an image's signatures, SBOM and provenance), not a running retention's deletion marker
 * (registry/deletion-guard.ts). Neither is a version anyone keeps.
 */
export function isVersionTag(tag: string): boolean {
  return !REFERRERS_TAG.test(tag) && !isMarkerTag(tag);
}

export const DEFAULT_CONCURRENCY = 16;

export interface ObserveOptions {
  /** Requests in flight at once across all repositories (default 16). */
  concurrency?: number;
  /** Manifests and config blobs by digest; without it every one is fetched. */
  cache?: DigestCache;
  /** What tags pointed at last time: chooses HEAD or GET per tag (needs `cache` to matter). */
  hints?: TagHints;
  /** The time of this look (ms since epoch), recorded in the hints; default now. */
  now?: number;
  /** When the registry says each tag was last pushed (ms), where it says so (Docker Hub's API). */
  tagPushTimes?: (repository: string) => Promise<ReadonlyMap<string, number>>;
}

export async function observeRepositories(
  client: RegistryClient,
  selections: Selections,
  options: ObserveOptions = {},
): Promise<RepositoryHistory[]> {
  const limit = pLimit(options.concurrency ?? DEFAULT_CONCURRENCY);
  const entries = [...selections].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Promise.all(
    entries.map(async ([repository, rules]): Promise<RepositoryHistory> => {
      const unreadable: string[] = [];
      const artifacts = await observeArtifacts(client, repository, {
        ...options,
        limit,
        onUnreadableTag: (tag) => unreadable.push(tag),
      });
      return {
        repository,
        rules,
        artifacts,
        ...(unreadable.length > 0 ? { unreadableTags: unreadable } : {}),
      };
    }),
  );
}

export interface ObserveArtifactsOptions extends Omit<ObserveOptions, 'concurrency'> {
  /** Shared bound on requests in flight (default: its own, DEFAULT_CONCURRENCY). */
  limit?: LimitFunction;
  /** Told each tag the registry answered 500 for (left out of the artifacts); without it, such a tag fails. */
  onUnreadableTag?: (tag: string) => void;
}

/** Every artifact of one repository; none when the repository does not exist. */
export async function observeArtifacts(
  client: RegistryClient,
  repository: string,
  options: ObserveArtifactsOptions = {},
): Promise<Artifact[]> {
  const { cache, hints } = options;
  const limit = options.limit ?? pLimit(DEFAULT_CONCURRENCY);
  // A repository that does not exist has no tags. Tags that are not versions are never judged.
  const tags = (await limit(() => unlessNotFound(client.listTags(repository), [] as string[]))).filter(
    isVersionTag,
  );
  const previous = hints?.readRecord(client.registry, repository);
  const lastSeen = previous?.tags ?? new Map<string, string>();
  const digestOfTag = new Map<string, string>();
  const manifests = new Map<string, Manifest>();
  // What the tag names: digestOfTag, and its manifest when it was read whole.
  const readTag = async (tag: string): Promise<void> => {
    if (askTagWith(client.registry, lastSeen.get(tag), cache) === 'GET') {
      // A tag deleted between the listing and now is simply not there any more.
      const m = await unlessNotFound(client.getManifest(repository, tag), null);
      if (!m) return;
      digestOfTag.set(tag, m.digest);
      if (!manifests.has(m.digest)) {
        manifests.set(m.digest, m);
        await cache?.put(m.digest, m.bytes, m.mediaType);
      }
      return;
    }
    const head = await client.headManifest(repository, tag);
    // A tag deleted between the listing and now is simply not there any more.
    if (head) digestOfTag.set(tag, head.digest);
  };
  await Promise.all(
    tags.map((tag) =>
      limit(async () => {
        try {
          await readTag(tag);
        } catch (e) {
          if (!(options.onUnreadableTag && isUnreadable(e))) throw e;
          options.onUnreadableTag(tag);
        }
      }),
    ),
  );
  const tagsByDigest = new Map<string, string[]>();
  for (const [tag, digest] of digestOfTag) {
    const list = tagsByDigest.get(digest);
    if (list) list.push(tag);
    else tagsByDigest.set(digest, [tag]);
  }
  const observedAt = options.now ?? Date.now();
  const since = previous ? tagsFirstSeen(previous, digestOfTag, observedAt) : new Map<string, number>();
  if (hints && cache) await hints.write(client.registry, repository, digestOfTag, { observedAt, since });

  // Breadth first through indexes: their children are artifacts too (untagged, usually).
  let wanted = new Set([...tagsByDigest.keys()].filter((d) => !manifests.has(d)));
  const wantChildren = (m: Manifest) => {
    if (isIndex(m.json))
      for (const child of m.json.manifests) if (!manifests.has(child.digest)) wanted.add(child.digest);
  };
  for (const m of manifests.values()) wantChildren(m);
  while (wanted.size > 0) {
    const fetched = await Promise.all(
      [...wanted].map((d) => limit(() => manifestOf(client, repository, d, cache))),
    );
    wanted = new Set();
    for (const m of fetched) manifests.set(m.digest, m);
    for (const m of fetched) wantChildren(m);
  }

  const created = new Map<string, number | undefined>();
  await Promise.all(
    [...manifests.values()]
      .filter((m) => !isIndex(m.json))
      .map((m) =>
        limit(async () => {
          created.set(m.digest, await createdOf(client, repository, m.json as ImageManifestJson, cache));
        }),
      ),
  );

  const pushTimes = await options.tagPushTimes?.(repository);
  return [...manifests.values()].map((m) => {
    const artifact = withPushTime(toArtifact(m, tagsByDigest.get(m.digest) ?? [], created), pushTimes);
    const seen = artifact.tags.filter((t) => since.has(t)).map((t) => [t, since.get(t)!] as const);
    return seen.length > 0 ? { ...artifact, tagsSeenSince: Object.fromEntries(seen) } : artifact;
  });
}

/** The latest push of any of its tags, when the registry reports push times. */
function withPushTime(artifact: Artifact, times: ReadonlyMap<string, number> | undefined): Artifact {
  const pushed = artifact.tags.map((t) => times?.get(t)).filter((t): t is number => t !== undefined);
  return pushed.length > 0 ? { ...artifact, pushedAt: Math.max(...pushed) } : artifact;
}

/** The manifest with this digest: from the cache, else fetched (and then stored). */
async function manifestOf(
  client: RegistryClient,
  repository: string,
  digest: string,
  cache: DigestCache | undefined,
): Promise<Manifest> {
  const cached = await cache?.get(digest);
  if (cached) {
    try {
      const { mediaType, json } = parseManifest(
        cached.bytes,
        describeRef(client.registry, repository, digest),
        cached.mediaType,
      );
      return { digest, mediaType, bytes: cached.bytes, json };
    } catch {
      // Intact bytes that do not parse were not written by this code: fetch as if absent.
    }
  }
  // getManifest checks the bytes against the digest asked for before returning them.
  const m = await client.getManifest(repository, digest);
  await cache?.put(digest, m.bytes, m.mediaType);
  return m;
}

/** The creation time in an image's config blob: from the cache, else fetched (and then stored). */
async function createdOf(
  client: RegistryClient,
  repository: string,
  manifest: ImageManifestJson,
  cache: DigestCache | undefined,
): Promise<number | undefined> {
  const { digest, mediaType } = manifest.config;
  const reference = describeRef(client.registry, repository, digest);
  const cached = await cache?.get(digest);
  if (cached) {
    try {
      return createdTime(parseImageConfig(cached.bytes, reference));
    } catch {
      // As for manifests: not ours, so fetch.
    }
  }
  const bytes = await getImageConfigBytes(client.context, repository, digest);
  const created = createdTime(parseImageConfig(bytes, reference));
  await cache?.put(digest, bytes, mediaType ?? '');
  return created;
}

function toArtifact(m: Manifest, tags: string[], created: Map<string, number | undefined>): Artifact {
  const own: StoredBlob = { digest: m.digest, size: m.bytes.length };
  if (isIndex(m.json)) {
    const child = defaultChild(m.json);
    const times = m.json.manifests
      .map((d) => created.get(d.digest))
      .filter((t): t is number => t !== undefined);
    // The index is as old as the image arbor would run from it; else its newest child.
    const time = (child && created.get(child.digest)) ?? (times.length > 0 ? Math.max(...times) : undefined);
    return {
      digest: m.digest,
      tags: tags.sort(),
      ...(time !== undefined ? { created: time } : {}),
      mediaType: m.mediaType,
      children: m.json.manifests.map((d) => d.digest),
      blobs: [own],
    };
  }
  const time = created.get(m.digest);
  const layers = m.json.layers.filter((l) => !isForeignLayer(l.mediaType ?? ''));
  return {
    digest: m.digest,
    tags: tags.sort(),
    ...(time !== undefined ? { created: time } : {}),
    mediaType: m.mediaType,
    children: [],
    blobs: [
      own,
      { digest: m.json.config.digest, size: m.json.config.size },
      ...layers.map((l) => ({ digest: l.digest, size: l.size })),
    ],
  };
}

/**
 * When the image was built: the later of the config's `created` and the OCI label
 * `org.opencontainers.image.created` (arbor writes it at every build). A builder that took every
 * step from its cache keeps the config's `created` of the first build, so rebuilds of other inputs
 * all look as old as the first one: ranked by it alone, keep_last kept the oldest version and
 * deleted the one before the current. The later time never makes an image look older than it is.
 */
export function createdTime(config: {
  created?: string;
  labels: Record<string, string>;
}): number | undefined {
  const times = [
    parseTime(config.created),
    parseTime(config.labels['org.opencontainers.image.created']),
  ].filter((t): t is number => t !== undefined);
  return times.length > 0 ? Math.max(...times) : undefined;
}

function parseTime(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}
