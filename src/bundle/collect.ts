// Reads what a bundle will hold from the registry, before a byte of the file is written: every
// image's manifest (an index's children too), image configs, and the referrers (signatures,
// SBOMs, attestations) attached to each manifest, recursively. Layers are not read here: the
// writer streams them. Every image that cannot be read is reported at once, naming where it was
// asked for.
import pLimit from 'p-limit';
import { ArborError } from '../errors.js';
import type { RegistryClient } from '../registry/client.js';
import { digestOf } from '../registry/digest.js';
import { RegistryError } from '../registry/errors.js';
import { isIndex } from '../registry/manifest-model.js';
import { REFERRER_DEPTH } from '../registry/referrers.js';
import { type BundleContent, type BundledImage, type BundleManifest, blobsReachable } from './contents.js';

/** One image to put in the bundle, as the selection named it. */
export interface ImageToBundle {
  /** For messages: `images.yaml: image keystone`, a reference, a release record. */
  origin: string;
  name: string;
  client: RegistryClient;
  repository: string;
  /** Tag or digest to read. */
  reference: string;
  /** Tags the image carries in the bundle. */
  tags: string[];
}

/** Where a blob that streams into the file can be read. */
export interface BlobOrigin {
  client: RegistryClient;
  repository: string;
}

export interface Collected {
  content: BundleContent;
  origins: Map<string, BlobOrigin>;
}

/** Configs and artifact configs are read whole; nothing real comes near this. */
const CONFIG_LIMIT = 16 * 1024 * 1024;

export async function collectImages(requests: ImageToBundle[], concurrency = 8): Promise<Collected> {
  const content: BundleContent = {
    images: [],
    manifests: new Map(),
    configs: new Map(),
    referrers: new Map(),
  };
  const origins = new Map<string, BlobOrigin>();
  const limit = pLimit(concurrency);
  const problems: string[] = [];
  const images = await Promise.all(
    requests.map((request) =>
      limit(async () => {
        try {
          return await collectOne(request, content);
        } catch (e) {
          if (!(e instanceof RegistryError)) throw e;
          // The error names the reference already when it is the one asked for.
          problems.push(
            e.message.startsWith(`${request.origin}: `) ? e.message : `${request.origin}: ${e.message}`,
          );
          return undefined;
        }
      }),
    ),
  );
  if (problems.length > 0)
    throw new ArborError(problems.sort().map((message) => ({ severity: 'error', message })));
  for (const [i, image] of images.entries()) {
    if (!image) continue;
    content.images.push(image);
    const request = requests[i]!;
    for (const blob of blobsReachable(content, image.digest))
      if (!origins.has(blob.digest))
        origins.set(blob.digest, { client: request.client, repository: request.repository });
  }
  return { content, origins };
}

async function collectOne(request: ImageToBundle, content: BundleContent): Promise<BundledImage> {
  const { client, repository } = request;
  const top = await client.getManifest(repository, request.reference);
  await addManifest(client, repository, top, content, 0);
  return {
    name: request.name,
    source: { registry: client.registry, repository },
    tags: request.tags,
    digest: top.digest,
  };
}

async function addManifest(
  client: RegistryClient,
  repository: string,
  manifest: BundleManifest,
  content: BundleContent,
  depth: number,
): Promise<void> {
  if (content.manifests.has(manifest.digest)) return;
  content.manifests.set(manifest.digest, manifest);
  const json = manifest.json;
  const work: Promise<void>[] = [];
  if (isIndex(json)) {
    for (const child of json.manifests)
      work.push(
        client
          .getManifest(repository, child.digest)
          .then((m) => addManifest(client, repository, m, content, depth)),
      );
  } else if (!content.configs.has(json.config.digest)) {
    work.push(readConfig(client, repository, json.config.digest, json.config.size, content));
  }
  if (depth < REFERRER_DEPTH) work.push(addReferrers(client, repository, manifest.digest, content, depth));
  await Promise.all(work);
}

async function readConfig(
  client: RegistryClient,
  repository: string,
  digest: string,
  size: number,
  content: BundleContent,
): Promise<void> {
  const where = `${client.registry}/${repository}@${digest}`;
  if (size > CONFIG_LIMIT)
    throw new RegistryError(where, `config of ${size} bytes (more than ${CONFIG_LIMIT})`);
  const { bytes } = await client.getBlob(repository, digest, { buffer: CONFIG_LIMIT });
  if (!bytes || digestOf(bytes, digest) !== digest)
    throw new RegistryError(where, 'config does not match its digest');
  content.configs.set(digest, bytes);
}

async function addReferrers(
  client: RegistryClient,
  repository: string,
  subject: string,
  content: BundleContent,
  depth: number,
): Promise<void> {
  const { manifests } = await client.referrers(repository, subject);
  if (manifests.length === 0) return;
  const digests = [...new Set(manifests.map((d) => d.digest))].sort();
  content.referrers.set(subject, digests);
  await Promise.all(
    digests.map(async (digest) => {
      const m = await client.getManifest(repository, digest);
      await addManifest(client, repository, m, content, depth + 1);
    }),
  );
}
