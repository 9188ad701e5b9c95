// Verifying simple-signing signatures in process with OpenPGP.js (the gpg binary would cost a
// process per signature; a release has hundreds). Keys are OpenPGP public keys, armored or binary,
// as policy.json's GPGKeys `keyPath` takes them or `gpg --export` writes them.
import { type Key, readKeys, readMessage, verify } from 'openpgp';

export interface PublicKeyring {
  keys: Key[];
  /** Primary key fingerprints, upper case. */
  fingerprints: string[];
}

export async function readKeyring(bytes: Buffer): Promise<PublicKeyring> {
  const text = bytes.toString('latin1');
  const keys = text.includes('-----BEGIN PGP PUBLIC KEY BLOCK-----')
    ? await readKeys({ armoredKeys: bytes.toString('utf8') })
    : await readKeys({ binaryKeys: new Uint8Array(bytes) });
  return { keys, fingerprints: keys.map((k) => k.getFingerprint().toUpperCase()) };
}

export interface VerifiedSignature {
  payload: Buffer;
  /** Primary fingerprint of the key that made it. */
  fingerprint: string;
}

/** What a signed message says, read without checking the signature: only to choose what to verify. */
export async function unverifiedPayload(
  signature: Buffer,
): Promise<{ message: SignedMessage; payload: Buffer } | null> {
  try {
    const message = await readMessage({ binaryMessage: new Uint8Array(signature) });
    const data = message.getLiteralData();
    return data instanceof Uint8Array ? { message, payload: Buffer.from(data) } : null;
  } catch {
    return null;
  }
}

export type SignedMessage = Awaited<ReturnType<typeof readMessage<Uint8Array>>>;

/** The signed payload when a key of the keyring made the signature; throws why not otherwise. */
export async function verifySignedMessage(
  signature: Buffer | SignedMessage,
  keyring: PublicKeyring,
): Promise<VerifiedSignature> {
  let message: SignedMessage;
  try {
    // A message already read (unverifiedPayload) is not parsed and decompressed again.
    message = Buffer.isBuffer(signature)
      ? await readMessage({ binaryMessage: new Uint8Array(signature) })
      : signature;
  } catch {
    throw new Error('not an OpenPGP message');
  }
  const result = await verify({ message, verificationKeys: keyring.keys, format: 'binary' });
  const [first] = result.signatures;
  if (!first) throw new Error('the message carries no signature');
  const keyId = first.keyID;
  const signer = keyring.keys.find((k) => k.getKeys(keyId).length > 0);
  if (!signer) throw new Error(`signed by key ${keyId.toHex().toUpperCase()}, which is not trusted`);
  try {
    await first.verified;
  } catch (e) {
    throw new Error(`invalid signature by ${signer.getFingerprint().toUpperCase()}: ${(e as Error).message}`);
  }
  await refuseExpired(signer, keyId);
  return {
    payload: Buffer.from(result.data as Uint8Array),
    fingerprint: signer.getFingerprint().toUpperCase(),
  };
}

/**
 * OpenPGP.js accepts a signature made while its key was valid; containers/image (gpgme: skopeo,
 * podman, CRI-O) refuses one whose key, or signing subkey, has expired since (KEYEXPIRED). arbor
 * answers as the sites will: a release promoted on arbor's word must pull there.
 */
async function refuseExpired(signer: Key, keyId: Parameters<Key['getKeys']>[0]): Promise<void> {
  const now = new Date();
  const fingerprint = signer.getFingerprint().toUpperCase();
  const expired = (at: Date | number | null) => at instanceof Date && at.getTime() <= now.getTime();
  const primary = await signer.getExpirationTime().catch(() => null);
  if (expired(primary))
    throw new Error(`signed by ${fingerprint}, a key that expired on ${(primary as Date).toISOString()}`);
  for (const key of signer.getKeys(keyId)) {
    if (key === signer || !('getExpirationTime' in key)) continue;
    const subkey = await (key as { getExpirationTime(): Promise<Date | number | null> })
      .getExpirationTime()
      .catch(() => null);
    if (expired(subkey))
      throw new Error(
        `signed by a subkey of ${fingerprint} that expired on ${(subkey as Date).toISOString()}`,
      );
  }
}
