// Verifying sigstore bundles with the sigstore project's own verifier (@sigstore/verify), by key
// and offline: no transparency log, no certificate transparency, no timestamp authority is asked
// for (key-based bundles have none), so the thresholds are 0 and the key is valid at any time.
import type { KeyObject } from 'node:crypto';
import { bundleFromJSON } from '@sigstore/bundle';
import { type TrustMaterial, toSignedEntity, Verifier } from '@sigstore/verify';
import { coversDigest, type Envelope, type Statement, statementOf } from './dsse.js';

export function keyTrust(publicKey: KeyObject): TrustMaterial {
  return {
    certificateAuthorities: [],
    timestampAuthorities: [],
    tlogs: [],
    ctlogs: [],
    // Whatever key the bundle's hint names, it is checked against this one (as `cosign verify
    // --key` does): the signature check fails unless it really is this key.
    publicKey: () => ({ publicKey, validFor: () => true }),
  };
}

/**
 * The statement of a bundle whose DSSE signature verifies with `publicKey` and whose subject is
 * `digest`; throws a one-line reason otherwise.
 */
export function verifyBundle(json: unknown, publicKey: KeyObject, digest: string): Statement {
  let bundle: ReturnType<typeof bundleFromJSON>;
  try {
    bundle = bundleFromJSON(json);
  } catch (e) {
    throw new Error(`not a sigstore bundle (${(e as Error).message})`);
  }
  if (bundle.content.$case !== 'dsseEnvelope') throw new Error('the bundle holds no DSSE envelope');
  const verifier = verifierFor(publicKey);
  try {
    verifier.verify(toSignedEntity(bundle));
  } catch (e) {
    throw new Error(`signature does not verify with the public key (${(e as Error).message})`);
  }
  const envelope = (json as { dsseEnvelope: Envelope }).dsseEnvelope;
  const statement = statementOf(envelope);
  if (!coversDigest(statement, digest)) throw new Error(`the signed statement is not about ${digest}`);
  return statement;
}

/** One verifier per key: a release verifies hundreds of bundles with the same one. */
function verifierFor(publicKey: KeyObject): Verifier {
  let verifier = verifiers.get(publicKey);
  if (!verifier) {
    verifier = new Verifier(keyTrust(publicKey), {
      tlogThreshold: 0,
      ctlogThreshold: 0,
      timestampThreshold: 0,
    });
    verifiers.set(publicKey, verifier);
  }
  return verifier;
}

const verifiers = new WeakMap<KeyObject, Verifier>();
