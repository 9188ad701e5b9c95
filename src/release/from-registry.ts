// The record of the tree as the registry holds it right after an apply: every image's fingerprint
// tag read once more (the human tags were just flipped to it), so the record says what a puller
// gets, including images another apply published.
import pLimit from 'p-limit';
import type { DesiredState } from '../plan/desired.js';
import type { RegistryClient } from '../registry/client.js';
import type { GitInfo } from '../render/git.js';
import { renderReleaseName } from '../render/tags.js';
import { RELEASE_FORMAT_VERSION, type ReleaseImage, type ReleaseRecord } from './record.js';

export interface RecordRequest {
  desired: DesiredState;
  client: RegistryClient;
  git: GitInfo;
  env?: NodeJS.ProcessEnv;
  now?: () => Date;
}

/** The release's name for this tree (its `releases.tag` rendered for the first image). */
export function releaseName(
  desired: DesiredState,
  git: GitInfo,
  env: NodeJS.ProcessEnv = process.env,
): string {
  const first = desired.images.get(desired.order[0]!)!;
  return renderReleaseName(desired.config, first.config, {
    fingerprint: first.fingerprint,
    fingerprintTag: first.fingerprintTag,
    git,
    env,
  });
}

/** The record, or the names of images missing from the registry (then there is no release). */
export async function recordFromRegistry(
  request: RecordRequest,
): Promise<{ record: ReleaseRecord } | { missing: string[] }> {
  const { desired, client } = request;
  const limit = pLimit(16);
  const heads = await Promise.all(
    desired.order.map((name) => {
      const want = desired.images.get(name)!;
      return limit(async () => ({
        want,
        head: await client.headManifest(want.repositoryPath, want.fingerprintTag),
      }));
    }),
  );
  const missing = heads.filter((h) => !h.head).map((h) => h.want.name);
  if (missing.length > 0) return { missing };
  const images: ReleaseImage[] = heads.map(({ want, head }) => ({
    name: want.name,
    repository: want.repositoryPath,
    digest: head!.digest,
    mediaType: head!.mediaType,
    size: head!.size,
    fingerprint: want.fingerprint,
    fingerprintTag: want.fingerprintTag,
    tags: want.tags,
  }));
  const git = request.git;
  return {
    record: {
      formatVersion: RELEASE_FORMAT_VERSION,
      release: releaseName(desired, git, request.env),
      created: (request.now?.() ?? new Date()).toISOString(),
      registry: desired.config.registry.url,
      namespace: desired.config.registry.namespace,
      configDigest: desired.config.configDigest,
      ...(git.commit || git.branch
        ? {
            git: {
              ...(git.commit ? { commit: git.commit } : {}),
              ...(git.branch ? { branch: git.branch } : {}),
            },
          }
        : {}),
      images,
    },
  };
}
