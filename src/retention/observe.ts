// What the registry holds, as retention needs it: for every selected repository, every tag
// (all pages), the digest each tag points at (HEAD with the full Accept list), and per distinct
// digest its manifest (children of an index, config and layer sizes) and its creation time from
// the image config. Every request goes through the registry client, behind one concurrency bound.
import pLimit, { type LimitFunction } from 'p-limit';
import type { RegistryClient } from '../registry/client.js';
import { RegistryError } from '../registry/errors.js';
import { defaultChild, isIndex, type Manifest } from '../registry/manifest-model.js';
import { isForeignLayer } from '../registry/media-types.js';
import type { Artifact, RepositoryHistory, StoredBlob } from './model.js';
import type { Selections } from './select.js';

export const DEFAULT_CONCURRENCY = 16;

export interface ObserveOptions {
  /** Requests in flight at once across all repositories (default 16). */
  concurrency?: number;
}

export async function observeRepositories(
  client: RegistryClient,
  selections: Selections,
  options: ObserveOptions = {},
): Promise<RepositoryHistory[]> {
  const limit = pLimit(options.concurrency ?? DEFAULT_CONCURRENCY);
  const entries = [...selections].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Promise.all(
    entries.map(async ([repository, rules]) => ({
      repository,
      rules,
      artifacts: await observeArtifacts(client, repository, limit),
    })),
  );
}

/** Every artifact of one repository; none when the repository does not exist. */
export async function observeArtifacts(
  client: RegistryClient,
  repository: string,
  limit: LimitFunction = pLimit(DEFAULT_CONCURRENCY),
): Promise<Artifact[]> {
  const tags = await limit(() => listTagsOrNone(client, repository));
  const tagsByDigest = new Map<string, string[]>();
  await Promise.all(
    tags.map((tag) =>
      limit(async () => {
        const head = await client.headManifest(repository, tag);
        // A tag deleted between the listing and now is simply not there any more.
        if (!head) return;
        const list = tagsByDigest.get(head.digest);
        if (list) list.push(tag);
        else tagsByDigest.set(head.digest, [tag]);
      }),
    ),
  );

  const manifests = new Map<string, Manifest>();
  let wanted = [...tagsByDigest.keys()];
  // Breadth first through indexes: their children are artifacts too (untagged, usually).
  while (wanted.length > 0) {
    const fetched = await Promise.all(wanted.map((d) => limit(() => client.getManifest(repository, d))));
    wanted = [];
    for (const m of fetched) {
      manifests.set(m.digest, m);
      if (isIndex(m.json))
        for (const child of m.json.manifests)
          if (!manifests.has(child.digest) && !wanted.includes(child.digest)) wanted.push(child.digest);
    }
  }

  const created = new Map<string, number | undefined>();
  await Promise.all(
    [...manifests.values()]
      .filter((m) => !isIndex(m.json))
      .map((m) =>
        limit(async () => {
          const config = await client.getImageConfig(repository, m);
          created.set(m.digest, parseTime(config.created));
        }),
      ),
  );

  return [...manifests.values()].map((m) => toArtifact(m, tagsByDigest.get(m.digest) ?? [], created));
}

async function listTagsOrNone(client: RegistryClient, repository: string): Promise<string[]> {
  try {
    return await client.listTags(repository);
  } catch (e) {
    if (e instanceof RegistryError && e.status === 404) return [];
    throw e;
  }
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

function parseTime(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = Date.parse(text);
  return Number.isNaN(t) ? undefined : t;
}
