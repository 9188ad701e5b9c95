// Sigstore bundles signed with a key, in the format cosign 2 (`--new-bundle-format`) writes: a
// DSSE envelope around an in-toto statement whose subject is the image's manifest digest,
// signed with ECDSA P-256 / SHA-256, the key named by its hint (base64 of the SHA-256 of its
// DER public key). No Fulcio certificate, no Rekor entry: verification is offline, by key.
import { createPrivateKey, createPublicKey, type KeyObject, sign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { type Envelope, IN_TOTO_PAYLOAD_TYPE, preAuthEncoding, type Statement, sha256Hex } from './dsse.js';

export const SIGSTORE_BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
/** cosign's predicate type for an image signature in the new bundle format. */
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';

export interface SigstoreBundle {
  mediaType: typeof SIGSTORE_BUNDLE_MEDIA_TYPE;
  verificationMaterial: {
    publicKey: { hint: string };
    tlogEntries: [];
    timestampVerificationData: { rfc3161Timestamps: [] };
  };
  dsseEnvelope: Envelope;
}

export class SigningKeyError extends Error {}

/** A PEM PKCS#8 ECDSA P-256 private key (encrypted with `passphrase`, or plain). */
export async function loadSigningKey(file: string, passphrase?: string): Promise<KeyObject> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (e) {
    throw new SigningKeyError(`cannot read ${file} (${(e as NodeJS.ErrnoException).code})`);
  }
  if (!/-----BEGIN (ENCRYPTED )?PRIVATE KEY-----/.test(pem))
    throw new SigningKeyError(`${file} is not a PEM PKCS#8 private key ("BEGIN PRIVATE KEY")`);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem', ...(passphrase !== undefined ? { passphrase } : {}) });
  } catch {
    throw new SigningKeyError(
      pem.includes('ENCRYPTED')
        ? `cannot decrypt ${file}: ${passphrase === undefined ? 'it needs a passphrase (passphrase_env or passphrase_file)' : 'wrong passphrase'}`
        : `${file} is not a readable private key`,
    );
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
    throw new SigningKeyError(`${file} is not an ECDSA P-256 key`);
  return key;
}

/** A PEM public key (SPKI), or the public half of a private key. */
export async function loadPublicKey(file: string): Promise<KeyObject> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (e) {
    throw new SigningKeyError(`cannot read ${file} (${(e as NodeJS.ErrnoException).code})`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new SigningKeyError(`${file} is not a PEM public key`);
  }
  // arbor signs with ECDSA P-256 (as cosign generate-key-pair): any other key verifies nothing,
  // which would read as "no signature" on every image instead of one word about the key.
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec' || (curve !== 'prime256v1' && curve !== 'P-256'))
    throw new SigningKeyError(
      `${file} is ${key.asymmetricKeyType === 'ec' ? `an EC ${curve} key` : `an ${key.asymmetricKeyType?.toUpperCase() ?? 'unknown'} key`}, not the ECDSA P-256 public key of a sigstore signing key`,
    );
  return key;
}

/** The key hint sigstore-go writes for a public key: base64(SHA-256(DER SPKI)). */
export function publicKeyHint(key: KeyObject): string {
  // Asked for every attachment of every image: computed once per key.
  let hint = hints.get(key);
  if (hint === undefined) {
    const publicKey = key.type === 'private' ? createPublicKey(key) : key;
    const der = publicKey.export({ type: 'spki', format: 'der' });
    hint = Buffer.from(sha256Hex(der), 'hex').toString('base64');
    hints.set(key, hint);
  }
  return hint;
}

const hints = new WeakMap<KeyObject, string>();

/** Signs the statement into a DSSE envelope inside a v0.3 bundle. */
export function signStatement(statement: Statement, key: KeyObject): SigstoreBundle {
  const payload = Buffer.from(JSON.stringify(statement));
  const signature = sign('sha256', preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, payload), key);
  return {
    mediaType: SIGSTORE_BUNDLE_MEDIA_TYPE,
    verificationMaterial: {
      publicKey: { hint: publicKeyHint(key) },
      tlogEntries: [],
      timestampVerificationData: { rfc3161Timestamps: [] },
    },
    dsseEnvelope: {
      payload: payload.toString('base64'),
      payloadType: IN_TOTO_PAYLOAD_TYPE,
      signatures: [{ sig: signature.toString('base64'), keyid: '' }],
    },
  };
}
