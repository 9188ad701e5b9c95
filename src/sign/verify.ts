// Verifying published images: the digest a reference names, its GPG signatures in the lookaside
// store, and its referrers: sigstore bundles (signature, SBOM, provenance) checked with the public
// key, plain attestations checked through the GPG signature of their manifest. Every problem is
// one line naming the image, the reference and what is wrong; promote and sync call
// checkSignatures with the images they are about to move.
import type { KeyObject } from 'node:crypto';
import type { Diagnostic } from '../errors.js';
import { error } from '../errors.js';
import { getBlobBytes } from '../registry/blobs.js';
import type { RegistryClient } from '../registry/client.js';
import { digestOf } from '../registry/digest.js';
import { type Descriptor, isIndex } from '../registry/manifest-model.js';
import { formatReference, type Reference } from '../registry/reference.js';
import { type AttachmentKind, isBundle, KEY_ANNOTATION, kindOf, PREDICATE_OF } from './attachments.js';
import { coversDigest, type Envelope, type Statement, statementOf } from './dsse.js';
import { checkReferenceSignatures } from './gpg-signatures.js';
import type { LookasideBase } from './lookaside.js';
import type { PublicKeyring } from './openpgp-verify.js';
import { packagesOfSpdx } from './sbom.js';
import { publicKeyHint } from './sigstore.js';
import { verifyBundle } from './sigstore-verify.js';

export interface VerifyPolicy {
  gpg?: { keyring: PublicKeyring; lookaside: LookasideBase };
  sigstore?: KeyObject;
  /** Attestations that must be there, validly signed. */
  require: Array<'sbom' | 'provenance'>;
}

/** One image to verify: a reference (tag or digest) and the image's name in a tree, when it has one. */
export interface ImageTarget {
  reference: Reference;
  name?: string;
  /** How to show the image when the reference is not what a human named (a release's tag). */
  label?: string;
}

export interface VerifiedAttachment {
  kind: AttachmentKind;
  digest: string;
  /** How it is signed: `sigstore`, `gpg`, or `unsigned` when no key of the policy covers it. */
  signedBy: 'sigstore' | 'gpg' | 'unsigned';
  problem?: string;
  /** The verified document: the statement's predicate, or the SPDX document. */
  document?: unknown;
}

export interface ImageVerification {
  target: ImageTarget;
  digest?: string;
  gpgSignatures: number;
  attachments: VerifiedAttachment[];
  /** Empty when everything the policy asks for is there and valid. */
  problems: string[];
}

const BLOB_LIMIT = 64 * 1024 * 1024;

export async function verifyImage(
  client: RegistryClient,
  target: ImageTarget,
  policy: VerifyPolicy,
): Promise<ImageVerification> {
  const ref = target.reference;
  const result: ImageVerification = { target, gpgSignatures: 0, attachments: [], problems: [] };
  const head = await client.headManifest(ref.repository, ref.tag ?? ref.digest ?? 'latest');
  if (!head) {
    result.problems.push('not in the registry');
    return result;
  }
  if (ref.digest && head.digest !== ref.digest) {
    result.problems.push(`the tag names ${head.digest}, not ${ref.digest}`);
    return result;
  }
  const digest = head.digest;
  result.digest = digest;
  const [gpgChecks, referrers] = await Promise.all([
    policy.gpg ? checkReferenceSignatures(policy.gpg.lookaside, ref, digest, policy.gpg.keyring) : null,
    client.referrers(ref.repository, digest),
  ]);
  if (gpgChecks) {
    result.gpgSignatures = gpgChecks.valid;
    if (gpgChecks.problem) result.problems.push(gpgChecks.problem);
  }
  const ours = referrers.manifests.filter((d) => kindOf(d) !== null);
  result.attachments = await Promise.all(ours.map((d) => verifyAttachment(client, ref, digest, d, policy)));

  const keyNames = new Set([
    ...(policy.sigstore ? [publicKeyHint(policy.sigstore)] : []),
    ...(policy.gpg?.keyring.fingerprints ?? []),
  ]);
  for (const attachment of result.attachments) {
    const descriptor = ours.find((d) => d.digest === attachment.digest)!;
    // Another signer's attachment (not claiming one of our keys) that we cannot verify is not ours to judge.
    if (attachment.problem && keyNames.has(descriptor.annotations?.[KEY_ANNOTATION] ?? ''))
      result.problems.push(`${attachment.kind} ${attachment.digest}: ${attachment.problem}`);
  }
  const valid = (kind: AttachmentKind) =>
    result.attachments.some((a) => a.kind === kind && !a.problem && a.signedBy !== 'unsigned');
  if (policy.sigstore && !valid('signature'))
    result.problems.push('no sigstore signature made with the public key');
  for (const kind of policy.require)
    if (!valid(kind)) result.problems.push(`no signed ${kind === 'sbom' ? 'SBOM' : 'provenance'}`);
  return result;
}

async function verifyAttachment(
  client: RegistryClient,
  ref: Reference,
  digest: string,
  descriptor: Descriptor,
  policy: VerifyPolicy,
): Promise<VerifiedAttachment> {
  const kind = kindOf(descriptor)!;
  const base = { kind, digest: descriptor.digest };
  try {
    const manifest = await client.getManifest(ref.repository, descriptor.digest);
    if (isIndex(manifest.json)) throw new Error('is an index, not an artifact manifest');
    if (manifest.json.subject?.digest !== digest) throw new Error(`its subject is not ${digest}`);
    const layer = manifest.json.layers[0];
    if (!layer) throw new Error('has no content');
    const bytes = await getBlobBytes(client.context, ref.repository, layer.digest, BLOB_LIMIT);
    if (digestOf(bytes, layer.digest) !== layer.digest)
      throw new Error('its content does not match its digest');
    const json = JSON.parse(bytes.toString('utf8')) as unknown;
    if (isBundle(descriptor)) {
      // Without the public key the statement is read unverified (for `arbor diff`), never trusted.
      if (!policy.sigstore)
        return {
          ...base,
          signedBy: 'unsigned',
          document: statementOf((json as { dsseEnvelope: Envelope }).dsseEnvelope).predicate,
        };
      const statement = verifyBundle(json, policy.sigstore, digest);
      if (statement.predicateType !== PREDICATE_OF[kind])
        throw new Error(`its statement is a ${statement.predicateType}, not a ${kind}`);
      return { ...base, signedBy: 'sigstore', document: statement.predicate };
    }
    // A plain attestation: about this image, and GPG-signed through its manifest digest.
    if (kind === 'provenance' && !coversDigest(json as Statement, digest))
      throw new Error(`is not about ${digest}`);
    if (kind === 'sbom') {
      packagesOfSpdx(json);
      if (!String((json as { name?: string }).name).endsWith(`@${digest}`))
        throw new Error(`is not about ${digest}`);
    }
    const document = kind === 'provenance' ? (json as Statement).predicate : json;
    if (!policy.gpg) return { ...base, signedBy: 'unsigned', document };
    const { problem } = await checkReferenceSignatures(
      policy.gpg.lookaside,
      { registry: ref.registry, repository: ref.repository, digest: descriptor.digest },
      descriptor.digest,
      policy.gpg.keyring,
    );
    if (problem) throw new Error(problem);
    return { ...base, signedBy: 'gpg', document };
  } catch (e) {
    return { ...base, signedBy: 'unsigned', problem: (e as Error).message };
  }
}

/** The reference as it should be shown in one-line problems. */
export function describeTarget(target: ImageTarget): string {
  return formatReference(target.reference);
}

/**
 * For promote and sync with `require_signature: true`: one located diagnostic per image that is
 * not validly signed, before anything moves. `clientFor` gives the client of a reference's registry.
 */
export async function checkSignatures(
  images: ImageTarget[],
  policy: VerifyPolicy,
  clientFor: (registry: string) => RegistryClient,
): Promise<Diagnostic[]> {
  const results = await Promise.all(
    images.map((image) => verifyImage(clientFor(image.reference.registry), image, policy)),
  );
  return results.flatMap((r) =>
    r.problems.map((problem) =>
      error(`${describeTarget(r.target)}: ${problem}`, r.target.name ? { image: r.target.name } : {}),
    ),
  );
}

/** The packages of the image's verified (or, without keys, present) SBOM; null when it has none. */
export function sbomPackages(verification: ImageVerification) {
  const sbom = verification.attachments.find((a) => a.kind === 'sbom' && !a.problem && a.document);
  return sbom ? packagesOfSpdx(sbom.document) : null;
}
