// The containers/image "simple signing" payload (docs: containers-signature(5)): a JSON claim that
// a manifest digest is the image a docker reference names, which GPG then signs. skopeo, podman
// and CRI-O read exactly these keys; the critical section may hold nothing else.
import { formatReference, type Reference } from '../registry/reference.js';

export const SIMPLE_SIGNING_TYPE = 'atomic container signature';

export interface SimpleSigningClaim {
  /** `host/path[:tag]` as written in the signature. */
  dockerReference: string;
  /** `sha256:<hex>` of the manifest. */
  digest: string;
}

/** The payload bytes, keys in the order containers/image writes them. */
export function simpleSigningPayload(
  claim: SimpleSigningClaim,
  optional: { creator: string; timestamp: number },
): Buffer {
  return Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': claim.dockerReference },
        image: { 'docker-manifest-digest': claim.digest },
        type: SIMPLE_SIGNING_TYPE,
      },
      optional: { creator: optional.creator, timestamp: optional.timestamp },
    }),
  );
}

/** Reads a (verified) payload; a payload of another shape is a problem, never a guess. */
export function parseSimpleSigningPayload(bytes: Buffer): SimpleSigningClaim {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new Error('the signed payload is not JSON');
  }
  const critical = (json as { critical?: Record<string, unknown> })?.critical;
  const identity = (critical?.identity as Record<string, unknown> | undefined)?.['docker-reference'];
  const digest = (critical?.image as Record<string, unknown> | undefined)?.['docker-manifest-digest'];
  if (critical?.type !== SIMPLE_SIGNING_TYPE)
    throw new Error(`the signed payload's type is not "${SIMPLE_SIGNING_TYPE}"`);
  if (typeof identity !== 'string' || typeof digest !== 'string')
    throw new Error('the signed payload has no docker-reference or manifest digest');
  return { dockerReference: identity, digest };
}

/** The identity a signature for `repository:tag` (or the bare repository) claims. */
export function dockerReference(registry: string, repositoryPath: string, tag?: string): string {
  return formatReference({ registry, repository: repositoryPath, ...(tag !== undefined ? { tag } : {}) });
}

/**
 * containers/image's default `signedIdentity` (matchRepoDigestOrExact): a tagged reference needs
 * a signature naming exactly that tag; a reference by digest accepts any signature of the
 * repository (the digest itself is checked separately).
 */
export function identityAccepts(image: Reference, signed: string): boolean {
  const repository = dockerReference(image.registry, image.repository);
  if (image.tag !== undefined && !image.digest) return signed === `${repository}:${image.tag}`;
  return signed === repository || signed.startsWith(`${repository}:`) || signed.startsWith(`${repository}@`);
}
