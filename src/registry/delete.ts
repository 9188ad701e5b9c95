// Deleting manifests. Registries may refuse deletion altogether (distribution with
// storage.delete disabled answers 405), and only OCI 1.1 registries delete a tag alone; both
// are results, not errors, so retention can say "unsupported" plainly.
import { deleteScope, describeRef, type RegistryContext, repoPath } from './context.js';
import { RegistryError } from './errors.js';
import { parseErrorBody, readBody, unexpected } from './response.js';
import type { RegistryResponse } from './transport/types.js';

export type DeleteResult = 'deleted' | 'not-found' | 'unsupported';

export interface DeleteOptions {
  /**
   * Let the transport send the DELETE again after a connection error, 5xx or 429 (default true).
   * Retention turns it off: a DELETE sent again after a backoff would act on a re-check that old,
   * so it re-checks first and sends its own.
   */
  retry?: boolean;
}

export async function deleteManifest(
  ctx: RegistryContext,
  repository: string,
  digest: string,
  options: DeleteOptions = {},
): Promise<DeleteResult> {
  return deleteReference(
    ctx,
    repository,
    digest,
    async (response) => {
      await response.body.dump();
      return 'not-found';
    },
    options,
  );
}

/** OCI 1.1 `DELETE /manifests/<tag>`: removes the tag, keeps the manifest. */
export async function deleteTag(
  ctx: RegistryContext,
  repository: string,
  tag: string,
  options: DeleteOptions = {},
): Promise<'deleted' | 'unsupported'> {
  return deleteReference(
    ctx,
    repository,
    tag,
    async (response, reference) => {
      // Distribution 2.x parses the reference as a digest and reports the tag unknown as a digest.
      const error = parseErrorBody((await readBody(response, 64 * 1024, reference)).toString('utf8'));
      if (error?.code === 'DIGEST_INVALID' || error?.code === 'UNSUPPORTED') return 'unsupported';
      throw new RegistryError(reference, error?.message ?? 'tag unknown', {
        status: 404,
        ...(error?.code ? { code: error.code } : {}),
      });
    },
    options,
  );
}

/**
 * `DELETE /manifests/<digest or tag>` and the answers both deletions read alike; a 404 means
 * "gone" for a digest but may mean "cannot delete tags" for a tag, so the caller reads it.
 */
async function deleteReference<NotFound extends DeleteResult>(
  ctx: RegistryContext,
  repository: string,
  tagOrDigest: string,
  onNotFound: (response: RegistryResponse, reference: string) => Promise<NotFound>,
  options: DeleteOptions = {},
): Promise<'deleted' | 'unsupported' | NotFound> {
  const reference = describeRef(ctx.registry, repository, tagOrDigest);
  const response = await ctx.send({
    method: 'DELETE',
    url: repoPath(repository, 'manifests', tagOrDigest),
    scope: deleteScope(repository),
    reference,
    idempotent: options.retry ?? true,
  });
  if (response.status === 202 || response.status === 200) {
    await response.body.dump();
    return 'deleted';
  }
  if (response.status === 404) return onNotFound(response, reference);
  if (response.status === 400 && tagOrDigest.includes(':')) {
    // Distribution answers DIGEST_INVALID when, while deleting, it reads a tag link that another
    // request is rewriting or removing in the same repository (a concurrent push or delete):
    // a transient answer about the repository, not a refusal of deletion.
    const error = parseErrorBody((await readBody(response, 64 * 1024, reference)).toString('utf8'));
    if (error?.code === 'DIGEST_INVALID')
      throw new RegistryError(
        reference,
        `${error.message ?? 'digest invalid'} (a concurrent change in the repository)`,
        {
          status: 400,
          code: error.code,
          restartable: true,
        },
      );
    return 'unsupported';
  }
  if (response.status === 405 || response.status === 400) {
    await response.body.dump();
    return 'unsupported';
  }
  throw await unexpected(response, reference);
}
