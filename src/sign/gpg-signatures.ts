// Simple-signing signatures of one manifest in a lookaside store: which identities are signed
// (read and verified with a keyring), adding the missing ones (signed by gpg), and checking that a
// reference is signed as containers/image's `signedBy` policy would.
import { formatReference, type Reference } from '../registry/reference.js';
import { type GpgOptions, gpgSign } from './gpg.js';
import { appendSignatures, type LookasideBase, readSignatures } from './lookaside.js';
import { type PublicKeyring, verifySignedMessage } from './openpgp-verify.js';
import { identityAccepts, parseSimpleSigningPayload, simpleSigningPayload } from './simple-signing.js';

export interface SignatureCheck {
  index: number;
  location: string;
  /** The identity it claims, when it verified. */
  identity?: string;
  digest?: string;
  fingerprint?: string;
  /** Why it does not count, when it does not. */
  problem?: string;
}

/** Every stored signature of the manifest, each verified with the keyring. */
export async function checkStoredSignatures(
  base: LookasideBase,
  repositoryPath: string,
  digest: string,
  keyring: PublicKeyring,
): Promise<SignatureCheck[]> {
  const stored = await readSignatures(base, repositoryPath, digest);
  return Promise.all(
    stored.map(async ({ index, location, bytes }): Promise<SignatureCheck> => {
      try {
        const verified = await verifySignedMessage(bytes, keyring);
        const claim = parseSimpleSigningPayload(verified.payload);
        if (claim.digest !== digest)
          return {
            index,
            location,
            identity: claim.dockerReference,
            digest: claim.digest,
            fingerprint: verified.fingerprint,
            problem: `signs ${claim.digest}, not this manifest ${digest}`,
          };
        return {
          index,
          location,
          identity: claim.dockerReference,
          digest,
          fingerprint: verified.fingerprint,
        };
      } catch (e) {
        return { index, location, problem: (e as Error).message };
      }
    }),
  );
}

/**
 * One line saying why `reference` is not signed (checks are of the manifest it names), or null when one stored
 * signature is valid for it: a trusted key, this digest, an identity the policy accepts.
 */
export function gpgProblem(reference: Reference, checks: SignatureCheck[]): string | null {
  if (checks.some((c) => !c.problem && identityAccepts(reference, c.identity!))) return null;
  if (checks.length === 0) return 'no GPG signature';
  const valid = checks.filter((c) => !c.problem);
  if (valid.length > 0)
    return `no GPG signature names ${formatReference(reference)} (signed: ${valid.map((c) => c.identity).join(', ')})`;
  const first = checks[0]!;
  const more = checks.length > 1 ? ` (and ${checks.length - 1} more signature(s) refused)` : '';
  return `GPG signature ${first.location}: ${first.problem}${more}`;
}

export interface GpgSigningKey {
  key: string;
  keyring: PublicKeyring;
  lookaside: string;
  gpg: GpgOptions;
  creator: string;
}

/** Signs the identities not yet validly signed for this digest; returns the files written. */
export async function addGpgSignatures(
  signer: GpgSigningKey,
  repositoryPath: string,
  digest: string,
  identities: string[],
  now: Date,
): Promise<string[]> {
  const present = await checkStoredSignatures(
    { kind: 'dir', dir: signer.lookaside },
    repositoryPath,
    digest,
    signer.keyring,
  );
  const signed = new Set(present.filter((c) => !c.problem).map((c) => c.identity));
  const missing = identities.filter((identity) => !signed.has(identity));
  if (missing.length === 0) return [];
  const signatures = await Promise.all(
    missing.map((identity) =>
      gpgSign(
        signer.key,
        simpleSigningPayload(
          { dockerReference: identity, digest },
          { creator: signer.creator, timestamp: Math.floor(now.getTime() / 1000) },
        ),
        signer.gpg,
      ),
    ),
  );
  return appendSignatures(signer.lookaside, repositoryPath, digest, signatures);
}
