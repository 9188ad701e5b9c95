// What refers to a manifest (signatures, SBOMs, attestations): the OCI 1.1 referrers API, and
// for registries without it the fallback tag `sha256-<hex>` holding an index. Read-only.
import { describeRef, pullScope, type RegistryContext, repoPath } from './context.js';
import { referrersTag } from './digest.js';
import { RegistryError } from './errors.js';
import { getManifest } from './manifest.js';
import { type Descriptor, isIndex, parseManifest } from './manifest-model.js';
import { OCI_INDEX } from './media-types.js';
import { readBody, unexpected } from './response.js';
import { header } from './transport/types.js';

const REFERRERS_LIMIT = 4 * 1024 * 1024;

/** Referrers of referrers (a signature of an SBOM) are followed this deep: bundles, promotions, syncs. */
export const REFERRER_DEPTH = 3;

export interface Referrers {
  manifests: Descriptor[];
  /** Where the list came from. */
  source: 'referrers-api' | 'tag-schema' | 'none';
}

/** Registries (by client context) that answered the referrers API 404: they do not have it. */
const withoutApi = new WeakSet<RegistryContext>();

export async function referrers(
  ctx: RegistryContext,
  repository: string,
  digest: string,
  options: { artifactType?: string } = {},
): Promise<Referrers> {
  const reference = describeRef(ctx.registry, repository, digest);
  const filter = (list: Descriptor[]) =>
    options.artifactType ? list.filter((d) => d.artifactType === options.artifactType) : list;
  if (!withoutApi.has(ctx)) {
    const query = options.artifactType
      ? `?${new URLSearchParams({ artifactType: options.artifactType })}`
      : '';
    const response = await ctx.send({
      method: 'GET',
      url: `${repoPath(repository, 'referrers', digest)}${query}`,
      headers: { accept: OCI_INDEX },
      scope: pullScope(repository),
      reference,
      idempotent: true,
      buffer: REFERRERS_LIMIT,
    });
    if (response.status === 200) {
      const bytes = await readBody(response, REFERRERS_LIMIT, reference);
      const { json } = parseManifest(bytes, reference, header(response, 'content-type'));
      if (!isIndex(json)) throw new RegistryError(reference, 'referrers answer is not an index');
      const filtered = header(response, 'oci-filters-applied')?.includes('artifactType');
      return { manifests: filtered ? json.manifests : filter(json.manifests), source: 'referrers-api' };
    }
    if (response.status !== 404) throw await unexpected(response, reference);
    await response.body.dump();
    // A registry with the API never answers it 404 (OCI distribution spec): ask this one's
    // fallback tag directly from now on, one request per image instead of two.
    withoutApi.add(ctx);
  }
  try {
    const fallback = await getManifest(ctx, repository, referrersTag(digest));
    if (!isIndex(fallback.json)) return { manifests: [], source: 'none' };
    return { manifests: filter(fallback.json.manifests), source: 'tag-schema' };
  } catch (e) {
    if (e instanceof RegistryError && e.status === 404) return { manifests: [], source: 'none' };
    throw e;
  }
}
