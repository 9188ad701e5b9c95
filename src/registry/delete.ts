// Deleting manifests. Registries may refuse deletion altogether (distribution with
// storage.delete disabled answers 405), and only OCI 1.1 registries delete a tag alone; both
// are results, not errors, so retention can say "unsupported" plainly.
import { deleteScope, describeRef, type RegistryContext, repoPath } from './context.js';
import { RegistryError } from './errors.js';
import { parseErrorBody, readBody, unexpected } from './response.js';

export type DeleteResult = 'deleted' | 'not-found' | 'unsupported';

export async function deleteManifest(
  ctx: RegistryContext,
  repository: string,
  digest: string,
): Promise<DeleteResult> {
  const reference = describeRef(ctx.registry, repository, digest);
  const response = await ctx.send({
    method: 'DELETE',
    url: repoPath(repository, 'manifests', digest),
    scope: deleteScope(repository),
    reference,
    idempotent: true,
  });
  if (response.status === 202 || response.status === 200) {
    await response.body.dump();
    return 'deleted';
  }
  if (response.status === 404) {
    await response.body.dump();
    return 'not-found';
  }
  if (response.status === 405 || response.status === 400) {
    await response.body.dump();
    return 'unsupported';
  }
  throw await unexpected(response, reference);
}

/** OCI 1.1 `DELETE /manifests/<tag>`: removes the tag, keeps the manifest. */
export async function deleteTag(
  ctx: RegistryContext,
  repository: string,
  tag: string,
): Promise<'deleted' | 'unsupported'> {
  const reference = describeRef(ctx.registry, repository, tag);
  const response = await ctx.send({
    method: 'DELETE',
    url: repoPath(repository, 'manifests', tag),
    scope: deleteScope(repository),
    reference,
    idempotent: true,
  });
  if (response.status === 202 || response.status === 200) {
    await response.body.dump();
    return 'deleted';
  }
  if (response.status === 405 || response.status === 400) {
    await response.body.dump();
    return 'unsupported';
  }
  if (response.status === 404) {
    // Distribution 2.x parses the reference as a digest and reports the tag unknown as a digest.
    const error = parseErrorBody((await readBody(response, 64 * 1024, reference)).toString('utf8'));
    if (error?.code === 'DIGEST_INVALID' || error?.code === 'UNSUPPORTED') return 'unsupported';
    throw new RegistryError(reference, error?.message ?? 'tag unknown', {
      status: 404,
      ...(error?.code ? { code: error.code } : {}),
    });
  }
  throw await unexpected(response, reference);
}
