// Labels arbor writes into every image it builds: the fingerprint (so the registry alone says
// what an image was built from), its inputs (so a later plan can say which one changed), and
// the OCI annotations people and scanners read.
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
  const labels: Record<string, string> = {
    ...image.config.labels,
    [FINGERPRINT_LABEL]: image.fingerprint,
    [INPUTS_LABEL]: encodeInputsLabel(image.inputs),
    'org.opencontainers.image.created': at.created,
    'org.opencontainers.image.version': image.tags[0] ?? image.fingerprintTag,
    'org.opencontainers.image.title': image.name,
  };
  // LABEL is inherited through FROM: an image must not show its parent's content fingerprint as
  // its own. Empty until apply stamps the image's own (content-fingerprint.ts), when it has one.
  if (image.parent !== null || (image.config.from !== undefined && image.config.from !== 'scratch'))
    labels[CONTENT_FINGERPRINT_LABEL] = '';
  if (at.git.commit) labels['org.opencontainers.image.revision'] = at.git.commit;
  const source = sourceUrl(env);
  if (source) labels['org.opencontainers.image.source'] = source;
  return labels;
}

/** The repository URL as CI systems publish it; nothing is guessed from git remotes (they may hold credentials). */
function sourceUrl(env: NodeJS.ProcessEnv): string | undefined {
  if (env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY)
    return `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}`;
  return env.CI_PROJECT_URL || undefined;
}
