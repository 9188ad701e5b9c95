// What the site holds, for a sync: per image one HEAD per tag (conditional on the release's
// digest); for an image none of whose tags is on the release's digest, a HEAD of its manifest; for
// one whose manifest is missing, its blobs (from the source's manifests), a HEAD of each at the
// site, the deltas its referrers list at the source, and a HEAD of each delta's base at the site.
// A tag or manifest the site answers 500 for (a link a crash left empty, registry/unreadable.ts)
// is written again, like a missing one.
import pLimit from 'p-limit';
import { deltasForImage } from '../delta/rebuild.js';
import type { RegistryClient } from '../registry/client.js';
import { headOrUnreadable, headTags, UNREADABLE } from '../registry/unreadable.js';
import type { ReleaseImage } from '../release/record.js';
import type { BlobLedger } from '../transfer/ledger.js';
import type { SourceManifests } from '../transfer/source-manifests.js';
import type { ImageFacts } from './plan.js';

export interface SyncObservation {
  images: ImageFacts[];
  presentAtTarget: Set<string>;
  basesAtTarget: Set<string>;
}

export async function observeSync(
  source: SourceManifests,
  target: RegistryClient,
  images: readonly ReleaseImage[],
  targetRepository: (image: ReleaseImage) => string,
  options: { deltas: boolean; ledger?: BlobLedger },
): Promise<SyncObservation> {
  const limit = pLimit(32);
  const presentAtTarget = new Set<string>();
  const basesAtTarget = new Set<string>();
  const facts = await Promise.all(
    images.map(async (image): Promise<ImageFacts> => {
      const repository = targetRepository(image);
      // Conditional on the release's digest (If-None-Match): cheaper for a site that has it.
      const { heads, unreadable: unreadableTags } = await headTags(
        target,
        repository,
        image.tags,
        image,
        limit,
      );
      const fact: ImageFacts = {
        name: image.name,
        sourceRepository: image.repository,
        targetRepository: repository,
        digest: image.digest,
        tags: image.tags,
        tagsAtTarget: Object.fromEntries(image.tags.map((t, i) => [t, heads[i]?.digest ?? null])),
        ...(unreadableTags.length > 0 ? { unreadableTags } : {}),
      };
      if (heads.every((h) => h?.digest === image.digest)) return fact;
      // A tag already on the release's digest says the manifest is there: no HEAD by digest.
      if (heads.some((h) => h?.digest === image.digest)) {
        fact.manifestPresent = true;
        return fact;
      }
      const manifest = await limit(() => headOrUnreadable(target, repository, image.digest));
      if (manifest === UNREADABLE) fact.manifestUnreadable = true;
      fact.manifestPresent = manifest !== null && manifest !== UNREADABLE;
      if (fact.manifestPresent) return fact;
      fact.blobs = await source.blobs(image.repository, image.digest);
      const present = await Promise.all(
        fact.blobs.map((b) => limit(() => target.headBlob(repository, b.digest))),
      );
      fact.blobs.forEach((b, i) => {
        if (present[i]) presentAtTarget.add(b.digest);
        // The apply then neither asks again nor sends what one repository of the site holds into
        // another: it mounts it from there (the plan counted it as at the site).
        options.ledger?.observed(repository, b.digest, present[i] !== null);
      });
      if (options.deltas) {
        const { deltas, declined } = await deltasForImage(source.client, image.repository, image.digest);
        fact.deltas = deltas;
        fact.declined = declined;
        const bases = [...new Set(deltas.map((d) => d.base))];
        const found = await Promise.all(bases.map((b) => limit(() => target.headBlob(repository, b))));
        bases.forEach((b, i) => {
          if (found[i]) basesAtTarget.add(b);
          options.ledger?.observed(repository, b, found[i] !== null);
        });
      }
      return fact;
    }),
  );
  return { images: facts, presentAtTarget, basesAtTarget };
}
