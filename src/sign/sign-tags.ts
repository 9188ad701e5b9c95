// GPG simple signatures for the tags a registry holds: a signature names the reference it was
// made for (`registry/repository:tag`), so an image that apply, promote, sync or bundle push put
// somewhere needs one made for that place before a site's skopeo or podman (containers/image's
// default `matchRepoDigestOrExact`) accepts it there. Already-signed identities are skipped, so a
// rerun writes only what is missing.
import pLimit from 'p-limit';
import {
  addGpgSignatures,
  type GpgSigningKey,
  type PreparedSignatures,
  prepareGpgSignatures,
} from './gpg-signatures.js';
import { dockerReference } from './simple-signing.js';

/** An image as one registry holds it: the tags that name its manifest there. */
export interface TaggedImage {
  /** Repository path in that registry (`namespace/name`). */
  repository: string;
  digest: string;
  tags: string[];
}

/** The identities (`registry/repository:tag`) of one image's tags. */
export function tagIdentities(registry: string, image: TaggedImage): string[] {
  return image.tags.map((tag) => dockerReference(registry, image.repository, tag));
}

/** Signs every `registry/repository:tag` of one image not yet signed; returns the files written. */
export function signImageTags(
  signer: GpgSigningKey,
  registry: string,
  image: TaggedImage,
  now: Date,
): Promise<string[]> {
  return addGpgSignatures(signer, image.repository, image.digest, tagIdentities(registry, image), now);
}

/** The same, signed but not stored yet (storeGpgSignatures writes them). */
export function prepareImageTags(
  signer: GpgSigningKey,
  registry: string,
  image: TaggedImage,
  now: Date,
): Promise<PreparedSignatures> {
  return prepareGpgSignatures(signer, image.repository, image.digest, tagIdentities(registry, image), now);
}

/** The same for many images (local files and in-process signatures: many at once). */
export async function signTags(
  signer: GpgSigningKey,
  registry: string,
  images: TaggedImage[],
  now = new Date(),
): Promise<number> {
  const limit = pLimit(64);
  const written = await Promise.all(
    images
      .filter((image) => image.tags.length > 0)
      .map((image) => limit(() => signImageTags(signer, registry, image, now))),
  );
  return written.reduce((sum, files) => sum + files.length, 0);
}
