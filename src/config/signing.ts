// `signing:` and `metadata:` of images.yaml → the model. Pure: the files they name are checked by
// check-signing.ts.
import type { SigningConfig } from './model.js';
import type { RawMetadata, RawSigning } from './raw.js';

export const OCI_LABEL_PREFIX = 'org.opencontainers.image.';

export function buildSigning(raw: RawSigning | undefined): SigningConfig | undefined {
  if (!raw) return undefined;
  const passphrase = (p: { passphrase_env?: string; passphrase_file?: string }) => ({
    ...(p.passphrase_env !== undefined ? { passphraseEnv: p.passphrase_env } : {}),
    ...(p.passphrase_file !== undefined ? { passphraseFile: p.passphrase_file } : {}),
  });
  return {
    ...(raw.gpg
      ? { gpg: { key: raw.gpg.key.toUpperCase(), lookaside: raw.gpg.lookaside, ...passphrase(raw.gpg) } }
      : {}),
    ...(raw.sigstore
      ? {
          sigstore: {
            key: raw.sigstore.key,
            ...(raw.sigstore.public_key !== undefined ? { publicKey: raw.sigstore.public_key } : {}),
            ...passphrase(raw.sigstore),
          },
        }
      : {}),
    sbom: raw.sbom ?? true,
    provenance: raw.provenance ?? true,
  };
}

/**
 * The OCI labels images.yaml asks for: the top-level `metadata`, then the image's own. They join
 * the image's labels (so they are fingerprint inputs: a new vendor or license republishes the
 * images that carry it); explicit `labels:` win over them.
 */
export function metadataLabels(
  top: RawMetadata | undefined,
  own: RawMetadata | undefined,
): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...top, ...own }))
    if (typeof value === 'string') labels[`${OCI_LABEL_PREFIX}${key}`] = value;
  return labels;
}
