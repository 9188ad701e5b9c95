// Content fingerprints: what a built image really contains, as its own command reports it
// (`dpkg-query -W`, `pip freeze`, git SHAs). The input fingerprint says what an image was built
// from; the content fingerprint says whether a rebuild from the same inputs (daily, for distro
// security fixes) produced anything new, so `apply --refresh` pushes only images that changed.
// It is stored as an image label, so the registry alone holds it, like the input fingerprint.
import { createHash } from 'node:crypto';
import type { RegistryClient } from '../registry/client.js';
import { unlessNotFound } from '../registry/errors.js';
import type { Builder, BuildRequest } from './builders/index.js';

export const CONTENT_FINGERPRINT_LABEL = 'org.arbor.content-fingerprint';

/** `sha256:<hex>` of the command's standard output. */
export function contentFingerprintOf(stdout: string): string {
  return `sha256:${createHash('sha256').update(stdout, 'utf8').digest('hex')}`;
}

/** Runs the image's command in the built image (no network) and fingerprints what it prints. */
export async function measureContent(
  builder: Builder,
  ref: string,
  command: string,
  options: { logFile: string; signal?: AbortSignal },
): Promise<string> {
  const stdout = await builder.runCommand(ref, command, {
    logFile: options.logFile,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return contentFingerprintOf(stdout);
}

/** The metadata-only Dockerfile that adds the label to an already built image: no context, no RUN, no layer. */
export function stampDockerfile(from: string, contentFingerprint: string): string {
  return `FROM ${from}\nLABEL ${CONTENT_FINGERPRINT_LABEL}="${contentFingerprint}"\n`;
}

/**
 * The build that writes the content fingerprint label, tagged with the same references as the
 * image's own build. The label can only be known after the image exists, and an image config is
 * immutable, so a second build is the one way every builder supports.
 *
 * docker, buildah and podman build `FROM` the local reference the first build just tagged: well
 * under a second. A buildx builder (possibly remote, or a docker-container driver) cannot see
 * local images and would resolve that reference in the registry, where it is missing or, during
 * a refresh, still the old content; so buildx repeats the original build with the label added,
 * which its layer cache (filled by the first build) answers without running a step again.
 */
export function stampRequest(
  builder: Pick<Builder, 'name'>,
  built: BuildRequest,
  fromRef: string,
  contentFingerprint: string,
): BuildRequest {
  if (builder.name === 'buildx') {
    return {
      ...built,
      noCache: false,
      labels: { ...built.labels, [CONTENT_FINGERPRINT_LABEL]: contentFingerprint },
    };
  }
  return {
    ...built,
    contextDir: null,
    dockerfile: stampDockerfile(fromRef, contentFingerprint),
    buildArgs: {},
    labels: {},
    noCache: false,
  };
}

/** The content fingerprint label of the image a tag names, or null when the tag or the label is missing. */
export async function registryContentFingerprint(
  client: Pick<RegistryClient, 'getManifest' | 'getImageConfig'>,
  repositoryPath: string,
  tag: string,
): Promise<string | null> {
  const manifest = await unlessNotFound(client.getManifest(repositoryPath, tag), null);
  if (!manifest) return null;
  const config = await client.getImageConfig(repositoryPath, manifest);
  return config.labels[CONTENT_FINGERPRINT_LABEL] || null;
}
