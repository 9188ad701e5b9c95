// Observed state: what the registry holds for the desired images. The registry is the state:
// one HEAD of the fingerprint tag per image answers "is it built?"; then only what is needed —
// a HEAD per wanted tag of built images (to find missing or moved tags), and for images that
// must be built, the image currently at their first tag (to say which input changed). A tag the
// registry answers 500 for (a link a crash left empty, registry/unreadable.ts) reads as absent
// and is noted: the image is pushed or tagged again, which writes the link again.
import pLimit from 'p-limit';
import { decodeInputsLabel, INPUTS_LABEL } from '../fingerprint/inputs-label.js';
import type { RegistryClient } from '../registry/client.js';
import { headOrUnreadable, UNREADABLE } from '../registry/unreadable.js';
import type { DesiredState } from './desired.js';

export interface ObservedImage {
  name: string;
  /** Digest at the fingerprint tag, or null when the image was never built with these inputs. */
  fingerprintDigest: string | null;
  /** Every wanted tag → its digest now (null when absent). Only read for built images. */
  tags: Record<string, string | null>;
  /** For images to build: the tag the previous inputs were read from, and those inputs. */
  previous: { tag: string; digest: string; inputs: Map<string, string> | null } | null;
  /** Tags (the fingerprint tag among them) the registry answered 500 for: read as absent. */
  unreadable?: string[];
}

export interface Observation {
  images: Map<string, ObservedImage>;
  /** `repository:tag` → digest or null, for every tag read: the saved plan's staleness check. */
  observed: Record<string, string | null>;
}

export async function observe(
  desired: DesiredState,
  client: Pick<RegistryClient, 'headManifest' | 'getManifest' | 'getImageConfig'>,
  options: { concurrency?: number } = {},
): Promise<Observation> {
  // 64 in flight over the client's 8 connections: it pipelines HEADs (see registry/client.ts).
  const limit = pLimit(options.concurrency ?? 64);
  const observed: Record<string, string | null> = {};
  const head = async (repositoryPath: string, repository: string, tag: string, damaged: string[]) => {
    const result = await limit(() => headOrUnreadable(client, repositoryPath, tag));
    if (result === UNREADABLE) damaged.push(tag);
    const digest = result === UNREADABLE ? null : (result?.digest ?? null);
    observed[`${repository}:${tag}`] = digest;
    return digest;
  };

  const images = new Map<string, ObservedImage>();
  await Promise.all(
    desired.order.map(async (name) => {
      const image = desired.images.get(name)!;
      const damaged: string[] = [];
      const fingerprintDigest = await head(
        image.repositoryPath,
        image.repository,
        image.fingerprintTag,
        damaged,
      );
      const tags: Record<string, string | null> = {};
      let previous: ObservedImage['previous'] = null;
      if (fingerprintDigest) {
        await Promise.all(
          image.tags.map(async (tag) => {
            tags[tag] = await head(image.repositoryPath, image.repository, tag, damaged);
          }),
        );
      } else {
        // The image is rebuilt; read what its first tag holds now to explain why.
        for (const tag of image.tags.slice(0, 1)) {
          const digest = await head(image.repositoryPath, image.repository, tag, damaged);
          tags[tag] = digest;
          if (!digest) continue;
          const manifest = await limit(() => client.getManifest(image.repositoryPath, digest));
          const config = await limit(() => client.getImageConfig(image.repositoryPath, manifest));
          const label = config?.labels?.[INPUTS_LABEL];
          previous = { tag, digest, inputs: label ? decodeInputsLabel(label) : null };
        }
      }
      images.set(name, {
        name,
        fingerprintDigest,
        tags,
        previous,
        ...(damaged.length > 0 ? { unreadable: damaged } : {}),
      });
    }),
  );
  return { images, observed };
}
