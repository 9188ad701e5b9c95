// An update bundle leaves out the blobs an earlier release already had: the config and layer
// digests of every image manifest of that release (index children included), read from the
// registry by digest. Manifests are tiny and always travel; so do the new release's configs.
import pLimit from 'p-limit';
import type { RegistryClient } from '../registry/client.js';
import { isIndex } from '../registry/manifest-model.js';

export interface ReleasedImage {
  client: RegistryClient;
  repository: string;
  digest: string;
}

export async function blobsOfRelease(images: ReleasedImage[], concurrency = 8): Promise<Set<string>> {
  const blobs = new Set<string>();
  const seen = new Set<string>();
  const limit = pLimit(concurrency);
  const visit = async (client: RegistryClient, repository: string, digest: string): Promise<void> => {
    if (seen.has(digest)) return;
    seen.add(digest);
    const manifest = await limit(() => client.getManifest(repository, digest));
    const json = manifest.json;
    if (isIndex(json)) {
      await Promise.all(json.manifests.map((child) => visit(client, repository, child.digest)));
      return;
    }
    blobs.add(json.config.digest);
    for (const layer of json.layers) blobs.add(layer.digest);
  };
  await Promise.all(images.map((image) => visit(image.client, image.repository, image.digest)));
  return blobs;
}
