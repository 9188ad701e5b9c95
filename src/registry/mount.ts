// Cross-repository mount: a blob another repository of the same registry holds is linked
// instead of uploaded. 201 = mounted; 202 = the registry declined and opened an upload session
// instead, which the caller can upload into. Tried again on a lost connection, 429 or 5xx.
import { sessionLocation, sessionStartRetrying } from './blobs.js';
import { describeRef, pushScope, type RegistryContext, repoPath } from './context.js';
import { unexpected } from './response.js';

export type MountResult = { mounted: true } | { mounted: false; session: string };

export function mountBlob(
  ctx: RegistryContext,
  repository: string,
  digest: string,
  fromRepository: string,
): Promise<MountResult> {
  return sessionStartRetrying(ctx, () => mountOnce(ctx, repository, digest, fromRepository));
}

async function mountOnce(
  ctx: RegistryContext,
  repository: string,
  digest: string,
  fromRepository: string,
): Promise<MountResult> {
  const reference = describeRef(ctx.registry, repository, digest);
  const query = new URLSearchParams({ mount: digest, from: fromRepository });
  const response = await ctx.send({
    method: 'POST',
    url: `${repoPath(repository, 'blobs', 'uploads/')}?${query}`,
    headers: { 'content-length': '0' },
    scope: pushScope(repository),
    reference,
    idempotent: false,
  });
  if (response.status === 201) {
    await response.body.dump();
    return { mounted: true };
  }
  if (response.status === 202) {
    await response.body.dump();
    return { mounted: false, session: sessionLocation(response, reference) };
  }
  throw await unexpected(response, reference);
}
