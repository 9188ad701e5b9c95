// Manifests on the wire: HEAD (digest without the body), GET (bytes checked against their
// digest), PUT, and retag by PUTting the same bytes under another tag (no blob moves).
import { describeRef, pullScope, pushScope, type RegistryContext, repoPath } from './context.js';
import { digestOf, isDigest } from './digest.js';
import { RegistryError } from './errors.js';
import { type Manifest, type ManifestHead, parseManifest } from './manifest-model.js';
import { baseMediaType, MANIFEST_ACCEPT } from './media-types.js';
import { expectStatus, readBody, unexpected } from './response.js';
import { backoffDelay, sleep } from './transport/backoff.js';
import { header } from './transport/types.js';

/** OCI distribution asks registries to accept manifests of at least 4 MiB; nothing real is bigger. */
const MANIFEST_LIMIT = 4 * 1024 * 1024;

/**
 * The manifest a tag or digest names, without its body; null when there is none.
 *
 * `expected`: what the caller believes a tag names (a release's image, the last run's answer).
 * It goes out as `If-None-Match` with the digest, which the manifest's ETag is: a registry whose
 * tag still names that digest answers 304, and distribution then skips reading the manifest (a
 * fifth less of its CPU per HEAD, the bulk of a no-op promotion). 304 means the ETag is that
 * digest, so `expected`'s digest, media type and size are returned (the latter two are the
 * digest's own); a release image can be passed as it is. A registry
 * that ignores the header answers 200 as always.
 */
export async function headManifest(
  ctx: RegistryContext,
  repository: string,
  tagOrDigest: string,
  expected?: ManifestHead,
): Promise<ManifestHead | null> {
  const reference = describeRef(ctx.registry, repository, tagOrDigest);
  const conditional = expected !== undefined && !isDigest(tagOrDigest);
  const response = await ctx.send({
    method: 'HEAD',
    url: repoPath(repository, 'manifests', tagOrDigest),
    headers: conditional
      ? { accept: MANIFEST_ACCEPT, 'if-none-match': `"${expected.digest}"` }
      : { accept: MANIFEST_ACCEPT },
    scope: pullScope(repository),
    reference,
    idempotent: true,
  });
  if (response.status === 404) {
    await response.body.dump();
    return null;
  }
  if (conditional && response.status === 304) {
    await response.body.dump();
    // A 304 that names another digest (a proxy in between answering from its own cache?) is
    // not a confirmation: ask again without the condition.
    const named = [header(response, 'docker-content-digest'), etagDigest(header(response, 'etag'))];
    if (named.some((d) => d !== undefined && d !== expected.digest))
      return headManifest(ctx, repository, tagOrDigest);
    return { digest: expected.digest, mediaType: expected.mediaType, size: expected.size };
  }
  await expectStatus(response, reference, 200);
  await response.body.dump();
  const digest =
    header(response, 'docker-content-digest') ?? (isDigest(tagOrDigest) ? tagOrDigest : undefined);
  const mediaType = baseMediaType(header(response, 'content-type'));
  const size = Number(header(response, 'content-length'));
  if (!digest || !mediaType || !Number.isFinite(size)) {
    // A registry that leaves out the digest on HEAD: read the manifest instead.
    const manifest = await getManifest(ctx, repository, tagOrDigest);
    return { digest: manifest.digest, mediaType: manifest.mediaType, size: manifest.bytes.length };
  }
  return { digest, mediaType, size };
}

/** The digest an ETag carries (`"sha256:…"`, weak or strong), else undefined. */
function etagDigest(etag: string | undefined): string | undefined {
  return etag?.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

export async function getManifest(
  ctx: RegistryContext,
  repository: string,
  tagOrDigest: string,
): Promise<Manifest> {
  const reference = describeRef(ctx.registry, repository, tagOrDigest);
  const response = await ctx.send({
    method: 'GET',
    url: repoPath(repository, 'manifests', tagOrDigest),
    headers: { accept: MANIFEST_ACCEPT },
    scope: pullScope(repository),
    reference,
    idempotent: true,
    buffer: MANIFEST_LIMIT,
  });
  if (response.status !== 200) throw await unexpected(response, reference);
  const bytes = await readBody(response, MANIFEST_LIMIT, reference);
  const claimed = header(response, 'docker-content-digest');
  const expected = isDigest(tagOrDigest) ? tagOrDigest : claimed;
  const digest = digestOf(bytes, expected);
  if (isDigest(tagOrDigest) && digest !== tagOrDigest)
    throw new RegistryError(reference, `manifest content does not match its digest (got ${digest})`);
  if (claimed && claimed.split(':')[0] === digest.split(':')[0] && claimed !== digest)
    throw new RegistryError(reference, `manifest content does not match Docker-Content-Digest ${claimed}`);
  const { mediaType, json } = parseManifest(bytes, reference, header(response, 'content-type'));
  return { digest, mediaType, bytes, json };
}

/** PUTs manifest bytes under a tag or their digest; returns the digest. */
export async function putManifest(
  ctx: RegistryContext,
  repository: string,
  tagOrDigest: string,
  bytes: Buffer,
  mediaType: string,
): Promise<string> {
  return (await putManifestAnswer(ctx, repository, tagOrDigest, bytes, mediaType)).digest;
}

/**
 * putManifest, with the registry's answer: whether it indexed the manifest's subject itself
 * (`OCI-Subject`, a registry with the referrers API).
 */
export async function putManifestAnswer(
  ctx: RegistryContext,
  repository: string,
  tagOrDigest: string,
  bytes: Buffer,
  mediaType: string,
): Promise<{ digest: string; subjectIndexed: boolean }> {
  const reference = describeRef(ctx.registry, repository, tagOrDigest);
  const digest = digestOf(bytes);
  if (isDigest(tagOrDigest) && digestOf(bytes, tagOrDigest) !== tagOrDigest)
    throw new RegistryError(reference, `manifest bytes do not match the digest they are pushed under`);
  for (let attempt = 0; ; attempt++) {
    const response = await ctx.send({
      method: 'PUT',
      url: repoPath(repository, 'manifests', tagOrDigest),
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
      body: bytes,
      scope: pushScope(repository),
      reference,
      // Same bytes under the same name: sending twice changes nothing.
      idempotent: true,
    });
    try {
      await expectStatus(response, reference, 201, 200);
    } catch (e) {
      // distribution answers DIGEST_INVALID when another client stores the very same manifest, or
      // one sharing a blob (artifacts' empty config), at the same moment: the bytes are right, so
      // ask again.
      const race = e instanceof RegistryError && e.code === 'DIGEST_INVALID' && attempt < ctx.retries;
      if (!race) throw e;
      await sleep(backoffDelay(attempt, ctx.backoff));
      continue;
    }
    await response.body.dump();
    return { digest, subjectIndexed: header(response, 'oci-subject') !== undefined };
  }
}

/**
 * Gives an existing manifest (by digest or tag) one more tag: GET its exact bytes and PUT them
 * again. The registry already holds every blob, so nothing but the manifest travels.
 */
export async function tagManifest(
  ctx: RegistryContext,
  repository: string,
  source: string,
  newTag: string,
): Promise<string> {
  const manifest = await getManifest(ctx, repository, source);
  await putManifest(ctx, repository, newTag, manifest.bytes, manifest.mediaType);
  return manifest.digest;
}
