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

/** Copies the image's referrers from the source to the target repository; returns how many. */
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
  const artifacts = all.filter((a) =>
    options.include ? options.include(artifactTypeOf(a).artifactType) : true,
  );
  if (artifacts.length === 0) return 0;
  for (const artifact of artifacts)
    await copyImageTo(
      target,
      targetRepository,
      artifact,
      ledger,
      totals,
      options.signal ? { signal: options.signal } : {},
    );
  const listed = await target.referrers(targetRepository, digest);
  if (listed.source !== 'referrers-api')
    for (const artifact of artifacts)
      await addToFallbackIndex(target, targetRepository, digest, {
        mediaType: artifact.manifest.mediaType || OCI_MANIFEST,
        digest: artifact.manifest.digest,
        size: artifact.manifest.bytes.length,
        ...artifactTypeOf(artifact),
      });
  return artifacts.length;
}
