// What each promotion target holds for the release: one HEAD per published tag (conditional on
// the release's digest); for an image none of whose tags is on the release's digest, a HEAD of the
// manifest by digest; for one whose manifest is missing, a HEAD per blob. Only HEADs at the
// target: a pull budget (Docker Hub counts manifest GETs) is never spent on planning.
// A tag or manifest the target answers 500 for (registry/unreadable.ts) is noted as unreadable:
// the plan writes it again (plan.ts).
import pLimit from 'p-limit';
import type { PromoteTarget } from '../config/model.js';
import type { RegistryClient } from '../registry/client.js';
import { RegistryError } from '../registry/errors.js';
import { headOrUnreadable, headTags, UNREADABLE } from '../registry/unreadable.js';
import type { ReleaseImage } from '../release/record.js';
import type { BlobLedger } from '../transfer/ledger.js';
import type { SourceManifests } from '../transfer/source-manifests.js';
import type { ImageAtTarget } from './plan.js';
import { selectTags, targetRepository } from './plan.js';

export interface ObserveOptions {
  /**
   * Read from the source, as soon as the HEADs show a tag to write, the manifest that tag will
   * name (apply needs it for the flip): the source's answers then overlap the target's, instead
   * of following the plan. Only when the plan is to be applied: a plan alone reads no manifest
   * it does not need.
   */
  prefetch?: boolean;
  /** Where the blob HEADs' answers go, for apply's transfer not to ask again. */
  ledger?: BlobLedger;
}

export async function observeTarget(
  target: PromoteTarget,
  client: RegistryClient,
  images: readonly ReleaseImage[],
  source: SourceManifests,
  options: ObserveOptions = {},
): Promise<Map<string, ImageAtTarget>> {
  const limit = pLimit(32);
  // What follows a tag HEAD that found the release missing (the manifest by digest, its blobs)
  // has its own slots: queued behind the hundreds of tag HEADs, the few images to copy would be
  // known only after all of them; this way their blob HEADs are answered meanwhile.
  const followUp = pLimit(8);
  const observed = new Map<string, ImageAtTarget>();
  // Leaves first (the record lists parents first). A fingerprint covers the parent's, so a
  // release's changed images are whole subtrees: the images to copy always include leaves, and
  // asked first, their blob HEADs are answered while the other tags are still being asked.
  await Promise.all(
    [...images].reverse().map(async (image) => {
      const repository = targetRepository(target, image);
      const tags = selectTags(target, image.tags);
      // Each HEAD asks "still the release's manifest?" (If-None-Match): cheaper for the target
      // when it is, and the answer is the registry's either way.
      const { heads, unreadable } = await headTags(client, repository, tags, image, limit);
      const at: ImageAtTarget = {
        tags: Object.fromEntries(tags.map((t, i) => [t, heads[i]?.digest ?? null])),
        ...(unreadable.length > 0 ? { unreadableTags: unreadable } : {}),
      };
      if (tags.length > 0 && heads.some((h) => h?.digest !== image.digest)) {
        // Cached by SourceManifests; a failure is apply's to report, when it awaits the same read.
        if (options.prefetch) source.tagBody(image.repository, image.digest).catch(() => undefined);
        // A tag already on the release's digest says the manifest is there: no HEAD by digest.
        at.manifestPresent =
          heads.some((h) => h?.digest === image.digest) ||
          (await followUp(() => manifestHead(client, repository, image.digest, at))) !== null;
        if (!at.manifestPresent) {
          // The plan counts what refers to each image to copy: asked now, beside the blob HEADs,
          // not after every image was observed (cached by SourceManifests; failures are the plan's).
          source.referrals(image.repository, image.digest, image.mediaType).catch(() => undefined);
          const blobs = await source.blobs(image.repository, image.digest).catch((e: unknown) => {
            // Deleted at the source since the release was recorded (retention?): never a partial release.
            if (e instanceof RegistryError && e.status === 404) {
              at.missingAtSource = true;
              // An index whose child is gone: name the child, not the index that is still there.
              const gone = /@(sha256:[0-9a-f]{64})$/.exec(e.reference)?.[1];
              if (gone && gone !== image.digest) at.missingChild = gone;
              return [];
            }
            throw e;
          });
          const present = await Promise.all(
            blobs.map(async (b) => {
              const head = await followUp(() => client.headBlob(repository, b.digest));
              options.ledger?.observed(repository, b.digest, head !== null);
              return head;
            }),
          );
          at.missing = blobs
            .filter((_, i) => present[i] === null)
            .map((b) => ({ digest: b.digest, size: b.size }));
        }
      }
      observed.set(image.name, at);
    }),
  );
  return observed;
}

/**
 * The HEAD of a manifest by digest; unreadable counts as absent and is noted. The copy that
 * follows writes the link again and reads the manifest back: a registry that still cannot read it
 * stops the run there.
 */
async function manifestHead(client: RegistryClient, repository: string, digest: string, at: ImageAtTarget) {
  const head = await headOrUnreadable(client, repository, digest);
  if (head !== UNREADABLE) return head;
  at.manifestUnreadable = true;
  return null;
}
