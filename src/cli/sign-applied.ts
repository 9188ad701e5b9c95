// After a successful apply: the images of the tree in the registry (built, refreshed, newly
// tagged, or unchanged: then only what is missing), as the signing module takes them, signed and
// attested with images.yaml's `signing:` keys. Lives in the CLI because it joins apply's outcomes
// (execute) with signing (sign); the work is in src/sign/.
import type { BuilderConfig } from '../config/model.js';
import type { ImageOutcome } from '../execute/apply.js';
import { defaultDockerBinary } from '../execute/builders/docker.js';
import type { Builder } from '../execute/builders/index.js';
import { sourceUrl } from '../execute/labels.js';
import { logFileFor } from '../execute/logs.js';
import type { RegistryClients } from '../plan/clients.js';
import type { DesiredState } from '../plan/desired.js';
import type { Plan } from '../plan/model.js';
import type { GitInfo } from '../render/git.js';
import type { SigningKeys } from '../sign/keys.js';
import {
  type AttachmentLookups,
  type PreparedLookups,
  type PublishedImage,
  signPublished,
} from '../sign/publish.js';
import { toolVersion } from '../sign/tool-version.js';

/**
 * Outcomes whose image is in the registry as the tree wants it. Unchanged images are signed too
 * (only what is missing): a rerun after a failed signing finishes it, and turning `signing:` on
 * signs the release there is.
 */
const SIGNED = new Set<ImageOutcome['status']>([
  'built',
  'tagged',
  'refreshed',
  'unchanged-content',
  'adopted',
  'unchanged',
]);

/** The published images of an apply: digest, every tag it wants, and what provenance needs. */
export function publishedImages(
  plan: Plan,
  desired: DesiredState,
  outcomes: ImageOutcome[],
): PublishedImage[] {
  const digests = new Map<string, string>();
  for (const image of plan.images) if (image.digest) digests.set(image.name, image.digest);
  for (const o of outcomes) if (o.digest) digests.set(o.name, o.digest);
  return outcomes
    .filter((o) => SIGNED.has(o.status) && o.digest)
    .map((o): PublishedImage => {
      const want = desired.images.get(o.name)!;
      const parentDigest = want.parent
        ? digests.get(want.parent)
        : /@(sha256:[0-9a-f]{64})$/.exec(want.parentRef ?? '')?.[1];
      return {
        name: o.name,
        repository: want.repository,
        repositoryPath: want.repositoryPath,
        digest: o.digest!,
        tags: signedTags(want),
        fingerprint: want.fingerprint,
        inputs: want.inputs,
        ...(want.parentRef && want.parentRef !== 'scratch'
          ? { parent: { reference: want.parentRef, ...(parentDigest ? { digest: parentDigest } : {}) } }
          : {}),
        ...(o.contentFingerprint ? { contentFingerprint: o.contentFingerprint } : {}),
      };
    });
}

/** The tags an image is signed for: every tag it wants and its fingerprint tag. */
function signedTags(want: { tags: string[]; fingerprintTag: string }): string[] {
  return [...want.tags, want.fingerprintTag];
}

/**
 * Images of the plan that keep their digest (tagged or unchanged), as signing will see them once
 * apply succeeded: their attachment lookups and GPG signatures can start while apply runs.
 */
export function keptImages(plan: Plan, desired: DesiredState) {
  return plan.images
    .filter((i) => i.digest !== null)
    .map((i) => {
      const want = desired.images.get(i.name)!;
      return { repositoryPath: want.repositoryPath, digest: i.digest!, tags: signedTags(want) };
    });
}

export async function signApplied(request: {
  keys: SigningKeys;
  plan: Plan;
  desired: DesiredState;
  outcomes: ImageOutcome[];
  clients: RegistryClients;
  git: GitInfo;
  builder: Builder;
  builderConfig: BuilderConfig;
  logDir: string;
  lookups?: AttachmentLookups;
  prepared?: PreparedLookups;
}): Promise<string> {
  const images = publishedImages(request.plan, request.desired, request.outcomes);
  if (images.length === 0) return '';
  const name = request.builderConfig.name;
  let builder: Promise<{ name: string; version?: string }> | undefined;
  const source = sourceUrl(process.env);
  const signed = await signPublished(images, {
    keys: request.keys,
    client: request.clients.home,
    config: request.desired.config,
    git: { ...request.git, ...(source ? { source } : {}) },
    // The builder's version runs a process: only for provenance statements, once.
    builder: () =>
      (builder ??= (
        name === 'docker' || name === 'buildx'
          ? toolVersion(defaultDockerBinary(), name === 'buildx' ? ['buildx', 'version'] : ['--version'])
          : toolVersion(name)
      ).then((version) => ({ name, ...(version ? { version } : {}) }))),
    ...(request.lookups ? { lookups: request.lookups } : {}),
    ...(request.prepared ? { prepared: request.prepared } : {}),
    // The content-fingerprint command's output lists the packages; the image is local when this
    // apply built it. Otherwise (or when it fails) the SBOM reads the layers' package databases.
    listPackages: async (image) => {
      const command = request.desired.images.get(image.name)?.config.contentFingerprint?.command;
      const want = request.desired.images.get(image.name)!;
      if (!command) return undefined;
      return request.builder
        .runCommand(`${want.repository}:${want.fingerprintTag}`, command, {
          logFile: logFileFor(request.logDir, image.name),
        })
        .catch(() => undefined);
    },
  });
  const signatures = signed.reduce((n, s) => n + s.gpgSignatures, 0);
  const attached = signed.reduce((n, s) => n + s.attached.length, 0);
  return `Signing: ${signed.length} image(s), ${signatures} GPG signature(s) written, ${attached} attachment(s) added.`;
}
