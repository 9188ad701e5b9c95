// Labels arbor writes into every image it builds: the fingerprint (so the registry alone says
// what an image was built from), its inputs (so a later plan can say which one changed), and
// the standard OCI labels people, registries' UIs and scanners read (with images.yaml's `metadata:`).
import { encodeInputsLabel, INPUTS_LABEL } from '../fingerprint/inputs-label.js';
import { FINGERPRINT_LABEL } from '../fingerprint/model.js';
import type { DesiredImage } from '../plan/desired.js';
import type { GitInfo } from '../render/git.js';
import { CONTENT_FINGERPRINT_LABEL } from './content-fingerprint.js';

export function imageLabels(
  image: DesiredImage,
  at: { created: string; git: GitInfo; env?: NodeJS.ProcessEnv },
): Record<string, string> {
  const env = at.env ?? process.env;
  // Standard OCI labels: defaults first, then images.yaml's `metadata:` and `labels:` (already in
  // config.labels), then arbor's own, which nothing may replace.
  const defaults: Record<string, string> = {
    [`${OCI}created`]: at.created,
    [`${OCI}version`]: image.tags[0] ?? image.fingerprintTag,
    [`${OCI}title`]: image.name,
    ...baseLabels(image),
  };
  if (at.git.commit) defaults[`${OCI}revision`] = at.git.commit;
  const source = sourceUrl(env);
  if (source) defaults[`${OCI}source`] = source;
  const labels: Record<string, string> = {
    ...defaults,
    ...image.config.labels,
    [FINGERPRINT_LABEL]: image.fingerprint,
    [INPUTS_LABEL]: encodeInputsLabel(image.inputs),
  };
  // LABEL is inherited through FROM: an image must not show its parent's content fingerprint as
  // its own. Empty until apply stamps the image's own (content-fingerprint.ts), when it has one.
  if (image.parent !== null || (image.config.from !== undefined && image.config.from !== 'scratch'))
    labels[CONTENT_FINGERPRINT_LABEL] = '';
  return labels;
}

const OCI = 'org.opencontainers.image.';

/**
 * `base.name` / `base.digest` in the image's config: the parent's fingerprint tag, or the external
 * base as written with the digest it resolved to. A parent built in the same apply has no digest
 * yet when its child builds (the child does not wait for its parent's upload): the parent's digest
 * is in the manifest's annotations (baseAnnotations), where the OCI spec defines these keys.
 */
function baseLabels(image: DesiredImage): Record<string, string> {
  if (image.parent !== null && image.parentRef) return { [`${OCI}base.name`]: image.parentRef };
  const from = image.config.from;
  if (from === undefined || from === 'scratch') return {};
  const digest = /@(sha256:[0-9a-f]{64})$/.exec(image.parentRef ?? '')?.[1];
  return { [`${OCI}base.name`]: from, ...(digest ? { [`${OCI}base.digest`]: digest } : {}) };
}

/** The manifest's `base.name` / `base.digest` annotations: the parent as published (or the external base). */
export function baseAnnotations(
  image: DesiredImage,
  parentDigest: string | undefined,
): Record<string, string> {
  const labels = baseLabels(image);
  const name = labels[`${OCI}base.name`];
  if (name === undefined) return {};
  const digest = image.parent !== null ? parentDigest : labels[`${OCI}base.digest`];
  return { [`${OCI}base.name`]: name, ...(digest ? { [`${OCI}base.digest`]: digest } : {}) };
}

/** The repository URL as CI systems publish it; nothing is guessed from git remotes (they may hold credentials). */
export function sourceUrl(env: NodeJS.ProcessEnv): string | undefined {
  if (env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY)
    return `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}`;
  return env.CI_PROJECT_URL || undefined;
}
