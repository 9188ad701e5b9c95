// An update bundle leaves out the blobs an earlier release already had: the config and layer
// digests of every image manifest of that release (index children included), read from the
// registry. Manifests are tiny and always travel; so do the new release's configs.
import pLimit from 'p-limit';
import type { RegistryClient } from '../registry/client.js';
import { unlessNotFound } from '../registry/errors.js';
import { isIndex } from '../registry/manifest-model.js';

export interface ReleasedImage {
  client: RegistryClient;
  repository: string;
  /** A digest (a release record), or a tag the release's images carry. */
  reference: string;
}

/** The blobs of the earlier release, and how many of its images were found (an image new since then has no such tag). */
export async function blobsOfRelease(
  images: ReleasedImage[],
  concurrency = 8,
): Promise<{ blobs: Set<string>; found: number }> {
  const blobs = new Set<string>();
  const seen = new Set<string>();
  const limit = pLimit(concurrency);
  let found = 0;
  const visit = async (client: RegistryClient, repository: string, reference: string): Promise<boolean> => {
    if (seen.has(`${repository}@${reference}`)) return true;
    seen.add(`${repository}@${reference}`);
    const manifest = await limit(() => unlessNotFound(client.getManifest(repository, reference), null));
    if (!manifest) return false;
    const json = manifest.json;
    if (isIndex(json)) {
      await Promise.all(json.manifests.map((child) => visit(client, repository, child.digest)));
      return true;
    }
    blobs.add(json.config.digest);
    for (const layer of json.layers) blobs.add(layer.digest);
    return true;
  };
  await Promise.all(
    images.map(async (image) => {
      if (await visit(image.client, image.repository, image.reference)) found++;
    }),
  );
  return { blobs, found };
}
