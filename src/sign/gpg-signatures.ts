// Simple-signing signatures of one manifest in a lookaside store: which identities are signed
// (read and verified with a keyring), adding the missing ones (signed by gpg), and checking that a
// reference is signed as containers/image's `signedBy` policy would.
import { basename, join } from 'node:path';
import { formatReference, type Reference } from '../registry/reference.js';
import { writeFileAtomic } from '../write-atomic.js';
import { sha256Hex } from './dsse.js';
import type { GpgOptions } from './gpg.js';
import {
  appendSignatures,
  type LookasideBase,
  reachableSignatures,
  readLookasideFile,
  readSignature,
  readSignatures,
  type StoredSignature,
  signatureFiles,
  signaturePath,
} from './lookaside.js';
import type { PublicKeyring } from './openpgp-verify.js';
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
        // Loaded here only: a run that verifies nothing never loads OpenPGP.js (≈ 0.8 MB).
        const { verifySignedMessage } = await import('./openpgp-verify.js');
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
 * Whether `reference` (at manifest `digest`) has a valid signature, verifying as little as
 * possible: the signatures whose unverified claim names this digest and an identity the policy
 * accepts are verified one by one until one holds (usually the first). Only when none holds is
 * every signature verified, so the problem can say why.
 */
export async function checkReferenceSignatures(
  base: LookasideBase,
  reference: Reference,
  digest: string,
  keyring: PublicKeyring,
): Promise<{ valid: number; problem: string | null }> {
  const { unverifiedPayload, verifySignedMessage } = await import('./openpgp-verify.js');
  const holds = async (signature: StoredSignature): Promise<boolean> => {
    const read = await unverifiedPayload(signature.bytes);
    let claim: ReturnType<typeof parseSimpleSigningPayload> | null = null;
    try {
      claim = read ? parseSimpleSigningPayload(read.payload) : null;
    } catch {
      claim = null;
    }
    if (!read || !claim || claim.digest !== digest || !identityAccepts(reference, claim.dockerReference))
      return false;
    try {
      const verified = parseSimpleSigningPayload((await verifySignedMessage(read.message, keyring)).payload);
      return verified.digest === digest && identityAccepts(reference, verified.dockerReference);
    } catch {
      return false; // Reported below, with every other signature.
    }
  };
  // arbor's record beside the signatures names the file it wrote for each identity: that one is
  // read first (and verified like any other: the record only says where to look). A release's
  // newest tag is the last of many signatures, so this saves reading all of them.
  const hinted = await reachableHint(
    base,
    reference.repository,
    digest,
    await recordedIndex(base, reference, digest),
  );
  if (hinted !== null) {
    const signature = await readSignature(base, reference.repository, digest, hinted);
    if (signature && (await holds(signature))) return { valid: 1, problem: null };
  }
  const stored = await readSignatures(base, reference.repository, digest);
  for (const signature of stored)
    if (signature.index !== hinted && (await holds(signature))) return { valid: 1, problem: null };
  const checks = await checkStoredSignatures(base, reference.repository, digest, keyring);
  return { valid: checks.filter((c) => !c.problem).length, problem: gpgProblem(reference, checks) };
}

/**
 * The recorded index when readers reach it (every signature before it is there), else null. Only a
 * directory can be listed; over HTTP the signatures are read in order, as containers/image does.
 */
async function reachableHint(
  base: LookasideBase,
  repositoryPath: string,
  digest: string,
  index: number | null,
): Promise<number | null> {
  if (index === null || base.kind !== 'dir') return null;
  return reachableSignatures(await signatureFiles(base.dir, repositoryPath, digest)) >= index ? index : null;
}

/** n of `signature-<n>`, or null for any other name. */
function signatureIndex(file: string | undefined): number | null {
  const index = /^signature-([1-9][0-9]*)$/.exec(file ?? '')?.[1];
  return index ? Number(index) : null;
}

/** The index of the signature arbor recorded for the reference's identity, or null. */
async function recordedIndex(
  base: LookasideBase,
  reference: Reference,
  digest: string,
): Promise<number | null> {
  const record = await readRecordAt(base, reference.repository, digest);
  const identity =
    reference.tag !== undefined
      ? formatReference({
          registry: reference.registry,
          repository: reference.repository,
          tag: reference.tag,
        })
      : Object.keys(record)[0];
  return signatureIndex(identity !== undefined ? record[identity]?.file : undefined);
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
  /** Signs a payload (gpg, batched with the other signatures of the run). */
  sign: (payload: Buffer) => Promise<Buffer>;
  /** The signer's public key as a keyring, read (OpenPGP.js loaded) only when it is needed. */
  keyring: () => Promise<PublicKeyring>;
  lookaside: string;
  gpg: GpgOptions;
  creator: string;
}

/**
 * Signs the identities not yet signed for this digest; returns the files written. What arbor
 * signed is recorded beside the signatures (signed-by-arbor.json: identity → file, its SHA-256,
 * the key), so a rerun knows without verifying anything; only signatures it did not record
 * (another tool's, or a file changed since) are verified with the key, and a signature that no
 * longer checks out is made again.
 */
export async function addGpgSignatures(
  signer: GpgSigningKey,
  repositoryPath: string,
  digest: string,
  identities: string[],
  now: Date,
): Promise<string[]> {
  return storeGpgSignatures(
    signer,
    await prepareGpgSignatures(signer, repositoryPath, digest, identities, now),
  );
}

/** Signatures made but not yet stored: apply makes them while its tags are written. */
export interface PreparedSignatures {
  repositoryPath: string;
  digest: string;
  /** Every identity asked for; `missing` of them are signed in `signatures`. */
  identities: string[];
  missing: string[];
  signatures: Buffer[];
  record: SignedRecord;
}

/** Which identities need a signature, and those signatures (nothing is written). */
export async function prepareGpgSignatures(
  signer: GpgSigningKey,
  repositoryPath: string,
  digest: string,
  identities: string[],
  now: Date,
): Promise<PreparedSignatures> {
  const record = await readRecord(signer.lookaside, repositoryPath, digest);
  const base = { kind: 'dir', dir: signer.lookaside } as const;
  // Only the files the record names for these identities are read (an image gathers one
  // signature per tag over many releases), and the others only listed.
  const names = await signatureFiles(signer.lookaside, repositoryPath, digest);
  // A signature after a gap is one no reader finds (reachableSignatures): it is signed again.
  const reachable = reachableSignatures(names);
  const recorded = await Promise.all(
    identities.map(async (identity) => {
      const entry = record[identity];
      const index = entry?.key === signer.key ? signatureIndex(entry.file) : null;
      if (index === null || index > reachable) return false;
      const file = await readSignature(base, repositoryPath, digest, index);
      return Boolean(file && sha256Hex(file.bytes) === entry!.sha256);
    }),
  );
  let missing = identities.filter((_, i) => !recorded[i]);
  const unrecorded = names.filter((name) => !Object.values(record).some((e) => e.file === name));
  if (missing.length > 0 && unrecorded.length > 0) {
    const checks = await checkStoredSignatures(base, repositoryPath, digest, await signer.keyring());
    const valid = new Set(checks.filter((c) => !c.problem).map((c) => c.identity));
    missing = missing.filter((identity) => !valid.has(identity));
  }
  const signatures = await Promise.all(
    missing.map((identity) =>
      signer.sign(
        simpleSigningPayload(
          { dockerReference: identity, digest },
          { creator: signer.creator, timestamp: Math.floor(now.getTime() / 1000) },
        ),
      ),
    ),
  );
  return { repositoryPath, digest, identities, missing, signatures, record };
}

/** Stores prepared signatures under the next free names and records them; returns the files. */
export async function storeGpgSignatures(
  signer: GpgSigningKey,
  prepared: PreparedSignatures,
): Promise<string[]> {
  const { repositoryPath, digest, missing, signatures, record } = prepared;
  if (missing.length === 0) return [];
  const written = await appendSignatures(signer.lookaside, repositoryPath, digest, signatures);
  missing.forEach((identity, i) => {
    record[identity] = { file: basename(written[i]!), sha256: sha256Hex(signatures[i]!), key: signer.key };
  });
  await writeFileAtomic(
    recordFile(signer.lookaside, repositoryPath, digest),
    `${JSON.stringify(record, null, 1)}\n`,
  );
  return written;
}

type SignedRecord = Record<string, { file: string; sha256: string; key: string }>;

function recordFile(dir: string, repositoryPath: string, digest: string): string {
  return join(dir, signaturePath(repositoryPath, digest), RECORD_FILE);
}

/** Beside the signatures; lookaside readers only read `signature-<n>`. */
export const RECORD_FILE = 'signed-by-arbor.json';

function readRecord(dir: string, repositoryPath: string, digest: string): Promise<SignedRecord> {
  return readRecordAt({ kind: 'dir', dir }, repositoryPath, digest);
}

async function readRecordAt(
  base: LookasideBase,
  repositoryPath: string,
  digest: string,
): Promise<SignedRecord> {
  try {
    const file = await readLookasideFile(base, `${signaturePath(repositoryPath, digest)}/${RECORD_FILE}`);
    const json = file ? (JSON.parse(file.bytes.toString('utf8')) as unknown) : {};
    return json && typeof json === 'object' && !Array.isArray(json) ? (json as SignedRecord) : {};
  } catch {
    // Absent or unreadable: every stored signature is then verified instead.
    return {};
  }
}
