// The artifacts that refer to an image (signatures, SBOMs, provenance; layer deltas where wanted)
// copied along with it, by digest, and listed at the target: by its referrers API when it has one,
// else in the `sha256-<hex>` fallback index (registry/attach.ts).
import { addToFallbackIndex } from '../registry/attach.js';
import type { RegistryClient } from '../registry/client.js';
import { OCI_MANIFEST } from '../registry/media-types.js';
import { copyImageTo } from './copy-image.js';
import type { BlobLedger } from './ledger.js';
import type { CopyTotals, ImageToCopy } from './model.js';
import type { SourceManifests } from './source-manifests.js';

export interface CopyReferrersOptions {
  /** Which artifacts to take (by artifactType); default all. */
  include?: (artifactType: string | undefined) => boolean;
  signal?: AbortSignal;
}

/** The artifact type of an artifact manifest: `artifactType`, else its config's media type (OCI 1.1). */
function artifactTypeOf(artifact: ImageToCopy): {
  artifactType?: string;
  annotations?: Record<string, string>;
} {
  const json = JSON.parse(artifact.manifest.bytes.toString('utf8')) as {
    artifactType?: string;
    annotations?: Record<string, string>;
    config?: { mediaType?: string };
  };
  const artifactType = json.artifactType ?? json.config?.mediaType;
  return {
    ...(artifactType ? { artifactType } : {}),
    ...(json.annotations ? { annotations: json.annotations } : {}),
  };
}

/**
 * Copies what refers to the image — to it, to an index's children, to those artifacts in turn —
 * from the source to the target repository; returns how many. Each artifact is listed at the target
 * for the manifest it refers to. An artifact left out by `include` takes what refers to it along.
 */
export async function copyReferrers(
  source: SourceManifests,
  target: RegistryClient,
  sourceRepository: string,
  targetRepository: string,
  digest: string,
  ledger: BlobLedger,
  totals: CopyTotals,
  options: CopyReferrersOptions = {},
): Promise<number> {
  const all = await source.referrers(sourceRepository, digest);
  // Parents come before what refers to them: an excluded parent's subtree is known in time.
  const excluded = new Set<string>();
  const referrals = all.filter(({ subject, artifact }) => {
    const keep =
      !excluded.has(subject) &&
      (options.include ? options.include(artifactTypeOf(artifact).artifactType) : true);
    if (!keep) excluded.add(artifact.manifest.digest);
    return keep;
  });
  if (referrals.length === 0) return 0;
  for (const { artifact } of referrals)
    await copyImageTo(
      target,
      targetRepository,
      artifact,
      ledger,
      totals,
      options.signal ? { signal: options.signal } : {},
    );
  const bySubject = new Map<string, ImageToCopy[]>();
  for (const { subject, artifact } of referrals)
    bySubject.set(subject, [...(bySubject.get(subject) ?? []), artifact]);
  for (const [subject, artifacts] of bySubject) {
    const listed = await target.referrers(targetRepository, subject);
    if (listed.source !== 'referrers-api')
      for (const artifact of artifacts)
        await addToFallbackIndex(target, targetRepository, subject, {
          mediaType: artifact.manifest.mediaType || OCI_MANIFEST,
          digest: artifact.manifest.digest,
          size: artifact.manifest.bytes.length,
          ...artifactTypeOf(artifact),
        });
  }
  return referrals.length;
}
