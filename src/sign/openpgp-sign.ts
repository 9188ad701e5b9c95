// Signing simple-signing payloads in process with OpenPGP.js, with the secret key gpg exported
// once. A release signs hundreds of payloads; one gpg process each (start-up, agent round trip)
// cost more than the rest of a tag-only apply's signing work together. The key never touches
// the disk: gpg writes it to a pipe, and it lives in this process's memory for the run, as it
// does in gpg-agent's.
import { createMessage, decryptKey, type PrivateKey, readPrivateKeys, sign } from 'openpgp';

export type InProcessSigner = (payload: Buffer) => Promise<Buffer>;

/**
 * A signer for `exported` (the output of `gpg --export-secret-keys KEY`), or the reason the key
 * cannot sign here — several keys matched, a key on a smartcard (only a stub is exported), no
 * passphrase for a protected key — so the caller signs with gpg instead.
 */
export async function openInProcessSigner(
  exported: Buffer,
  passphrase: string | undefined,
): Promise<InProcessSigner | { unusable: string }> {
  let keys: PrivateKey[];
  try {
    keys = await readPrivateKeys({ binaryKeys: new Uint8Array(exported) });
  } catch (e) {
    return { unusable: `gpg's export could not be read (${(e as Error).message})` };
  }
  // gpg --local-user picks the first usable match; which one that is is gpg's to say.
  if (keys.length !== 1) return { unusable: `${keys.length} secret keys match` };
  let key = keys[0]!;
  try {
    if (!key.isDecrypted()) {
      if (passphrase === undefined) return { unusable: 'the key is protected and no passphrase is set' };
      key = await decryptKey({ privateKey: key, passphrase });
    }
    // The subkey gpg would pick too: the newest valid signing-capable one (or the primary key).
    await key.getSigningKey();
  } catch (e) {
    return { unusable: (e as Error).message };
  }
  const signingKey = key;
  return async (payload) =>
    Buffer.from(
      await sign({
        message: await createMessage({ binary: new Uint8Array(payload) }),
        signingKeys: signingKey,
        format: 'binary',
      }),
    );
}
