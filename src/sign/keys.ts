// Opening the keys images.yaml's `signing:` names, before anything is published: the GPG secret
// key must be in the GnuPG home and sign (so a wrong passphrase stops apply before it changes
// anything), the sigstore key must decrypt and be ECDSA P-256. Every problem is located at its key.
import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Config } from '../config/model.js';
import { ArborError, type Diagnostic, error } from '../errors.js';
import { VERSION } from '../package-info.js';
import {
  createGpgBatchSigner,
  type GpgOptions,
  gpgExportPublicKey,
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
    const { key } = signing.gpg;
    try {
      const passphrase = await readPassphrase(signing.gpg, config.root, env);
      const gpg: GpgOptions = { env, ...(passphrase !== undefined ? { passphrase } : {}) };
      // One signature now: a missing key or agent, a wrong passphrase or an expired key is found
      // here, before anything is published. The public key is exported at the same time.
      const [, publicKey] = await Promise.all([
        gpgRequireSecretKey(key, gpg).then(() => gpgSign(key, Buffer.from('arbor signing check'), gpg)),
        gpgExportPublicKey(key, gpg),
      ]);
      let keyring: Promise<PublicKeyring> | undefined;
      const lookaside = resolve(config.root, signing.gpg.lookaside);
      await mkdir(lookaside, { recursive: true });
      keys.gpg = {
        key,
        sign: createGpgBatchSigner(key, gpg).sign,
        keyring: () => (keyring ??= import('./openpgp-verify.js').then((m) => m.readKeyring(publicKey))),
        lookaside,
        gpg,
        creator: CREATOR,
      };
    } catch (e) {
      at(['signing', 'gpg', 'key'], `signing.gpg: ${(e as Error).message}`);
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
