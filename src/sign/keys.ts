// Opening the keys images.yaml's `signing:` names, before anything is published: the GPG secret
// key must be in the GnuPG home and sign (so a wrong passphrase stops apply before it changes
// anything), the sigstore key must decrypt and be ECDSA P-256. Every problem is located at its key.
import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Config } from '../config/model.js';
import { displayPath } from '../display-path.js';
import { ArborError, type Diagnostic, error } from '../errors.js';
import { VERSION } from '../package-info.js';
import {
  createGpgBatchSigner,
  type GpgOptions,
  gpgExportPublicKey,
  gpgExportSecretKey,
  gpgRequireSecretKey,
  gpgSign,
} from './gpg.js';
import type { GpgSigningKey } from './gpg-signatures.js';
import type { PublicKeyring } from './openpgp-verify.js';
import { readPassphrase } from './passphrase.js';
import { loadPublicKey, loadSigningKey } from './sigstore.js';

export const CREATOR = `arbor ${VERSION}`;

export interface SigningKeys {
  gpg?: GpgSigningKey;
  sigstore?: { privateKey: KeyObject; publicKey: KeyObject };
  sbom: boolean;
  provenance: boolean;
}

/** The keys of `signing:`, opened and tried; null when images.yaml has no `signing:`. */
export async function openSigningKeys(
  config: Config,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SigningKeys | null> {
  const signing = config.signing;
  if (!signing) return null;
  const problems: Diagnostic[] = [];
  const at = (path: string[], message: string) => problems.push(error(message, { loc: config.locate(path) }));
  const keys: SigningKeys = { sbom: signing.sbom, provenance: signing.provenance };

  if (signing.gpg) {
    try {
      keys.gpg = await openConfiguredGpgKey(config, env);
    } catch (e) {
      problems.push(...(e as ArborError).diagnostics);
    }
  }
  if (signing.sigstore) {
    try {
      const passphrase = await readPassphrase(signing.sigstore, config.root, env);
      const privateKey = await loadSigningKey(resolve(config.root, signing.sigstore.key), passphrase);
      keys.sigstore = { privateKey, publicKey: createPublicKey(privateKey) };
    } catch (e) {
      at(['signing', 'sigstore', 'key'], `signing.sigstore: ${(e as Error).message}`);
    }
  }
  if (problems.length > 0) throw new ArborError(problems);
  return keys;
}

/**
 * `signing.gpg` of images.yaml, opened and tried (its passphrase from the environment or file);
 * every problem is an ArborError located at the key. Apply signs with it, promote targets too.
 */
export async function openConfiguredGpgKey(
  config: Config,
  env: NodeJS.ProcessEnv = process.env,
): Promise<GpgSigningKey> {
  const gpg = config.signing!.gpg!;
  try {
    const passphrase = await readPassphrase(gpg, config.root, env);
    return await openGpgSigningKey(gpg.key, resolve(config.root, gpg.lookaside), {
      env,
      ...(passphrase !== undefined ? { passphrase } : {}),
    });
  } catch (e) {
    throw new ArborError([
      error(`signing.gpg: ${(e as Error).message}`, { loc: config.locate(['signing', 'gpg', 'key']) }),
    ]);
  }
}

/**
 * A GPG key of the GnuPG home, opened and tried, writing into `lookaside`: one signature now, so a
 * missing key or agent, a wrong passphrase or an expired key is found before anything is
 * published. The public key is exported at the same time (for checking what is already signed).
 */
export async function openGpgSigningKey(
  key: string,
  lookaside: string,
  gpg: GpgOptions,
): Promise<GpgSigningKey> {
  const [signer, exported] = await Promise.allSettled([
    gpgRequireSecretKey(key, gpg).then(() => openGpgSigner(key, gpg)),
    gpgExportPublicKey(key, gpg),
  ]);
  // The secret key's problem says the most (a missing key also has no public key).
  if (signer.status === 'rejected') throw signer.reason;
  if (exported.status === 'rejected') throw exported.reason;
  const { sign } = signer.value;
  const publicKey = exported.value;
  let keyring: Promise<PublicKeyring> | undefined;
  await mkdir(lookaside, { recursive: true }).catch((e: NodeJS.ErrnoException) => {
    throw e.code === 'EEXIST' || e.code === 'ENOTDIR'
      ? new Error(`the lookaside ${displayPath(lookaside)} is not a directory`)
      : e;
  });
  return {
    key,
    sign,
    keyring: () => (keyring ??= import('./openpgp-verify.js').then((m) => m.readKeyring(publicKey))),
    lookaside,
    gpg,
    creator: CREATOR,
  };
}

const CHECK = Buffer.from('arbor signing check');

/**
 * Signs in process (OpenPGP.js) when gpg exports the key and it opens here; otherwise — a key on a
 * smartcard, a protected key whose passphrase only gpg-agent holds, an exact subkey (`KEY!`) —
 * with gpg processes, batched. Either way one check signature is made before anything else.
 */
export async function openGpgSigner(
  key: string,
  gpg: GpgOptions,
): Promise<{ sign: (payload: Buffer) => Promise<Buffer>; inProcess: boolean }> {
  if (!key.endsWith('!')) {
    const exported = await gpgExportSecretKey(key, gpg).catch(() => null);
    if (exported) {
      const { openInProcessSigner } = await import('./openpgp-sign.js');
      const signer = await openInProcessSigner(exported, gpg.passphrase);
      exported.fill(0);
      if (typeof signer === 'function') {
        await signer(CHECK);
        return { sign: signer, inProcess: true };
      }
    }
  }
  await gpgSign(key, CHECK, gpg);
  return { sign: createGpgBatchSigner(key, gpg).sign, inProcess: false };
}

/** The public keys `arbor verify` checks against, from images.yaml: no secret is needed. */
export async function configuredPublicKeys(config: Config, env: NodeJS.ProcessEnv = process.env) {
  const signing = config.signing;
  const problems: Diagnostic[] = [];
  const result: {
    gpg?: { keyring: PublicKeyring; lookaside: string };
    sigstore?: KeyObject;
  } = {};
  if (signing?.gpg) {
    try {
      result.gpg = {
        keyring: await (await import('./openpgp-verify.js')).readKeyring(
          await gpgExportPublicKey(signing.gpg.key, { env }),
        ),
        lookaside: resolve(config.root, signing.gpg.lookaside),
      };
    } catch (e) {
      problems.push(
        error(`signing.gpg: ${(e as Error).message}`, { loc: config.locate(['signing', 'gpg', 'key']) }),
      );
    }
  }
  if (signing?.sigstore) {
    const file = signing.sigstore.publicKey ?? signing.sigstore.key.replace(/(\.[^./]*)?$/, '.pub');
    try {
      result.sigstore = await loadPublicKey(resolve(config.root, file));
    } catch (e) {
      const path = signing.sigstore.publicKey
        ? ['signing', 'sigstore', 'public_key']
        : ['signing', 'sigstore', 'key'];
      problems.push(error(`signing.sigstore: ${(e as Error).message}`, { loc: config.locate(path) }));
    }
  }
  if (problems.length > 0) throw new ArborError(problems);
  return result;
}
