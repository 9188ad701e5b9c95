// What arbor attaches to an image, and how it recognizes it among the image's referrers: cosign's
// new-bundle-format conventions (artifactType = the bundle media type, the predicate type in an
// annotation), or, without a sigstore key, the plain document (SPDX JSON, an in-toto statement)
// whose artifact manifest is then GPG-signed like an image. `org.arbor.signing-key` names the key
// (sigstore hint or GPG fingerprint) so a rerun with the same key attaches nothing twice.
import type { ArtifactSpec } from '../registry/attach.js';
import type { Descriptor } from '../registry/manifest-model.js';
import type { Statement } from './dsse.js';
import { SLSA_PROVENANCE_V1 } from './provenance.js';
import { SPDX_MEDIA_TYPE, SPDX_PREDICATE } from './sbom.js';
import { COSIGN_SIGN_PREDICATE, SIGSTORE_BUNDLE_MEDIA_TYPE, type SigstoreBundle } from './sigstore.js';

export type AttachmentKind = 'signature' | 'sbom' | 'provenance';

export const PREDICATE_ANNOTATION = 'dev.sigstore.bundle.predicateType';
export const CONTENT_ANNOTATION = 'dev.sigstore.bundle.content';
export const IN_TOTO_PREDICATE_ANNOTATION = 'in-toto.io/predicate-type';
export const KEY_ANNOTATION = 'org.arbor.signing-key';
export const CREATED_ANNOTATION = 'org.opencontainers.image.created';
export const IN_TOTO_MEDIA_TYPE = 'application/vnd.in-toto+json';

export const PREDICATE_OF: Record<AttachmentKind, string> = {
  signature: COSIGN_SIGN_PREDICATE,
  sbom: SPDX_PREDICATE,
  provenance: SLSA_PROVENANCE_V1,
};

/** Which of arbor's attachments a referrer is, from its descriptor alone; null for others. */
export function kindOf(d: Descriptor): AttachmentKind | null {
  const predicate =
    d.artifactType === SIGSTORE_BUNDLE_MEDIA_TYPE
      ? d.annotations?.[PREDICATE_ANNOTATION]
      : d.artifactType === IN_TOTO_MEDIA_TYPE
        ? d.annotations?.[IN_TOTO_PREDICATE_ANNOTATION]
        : d.artifactType === SPDX_MEDIA_TYPE
          ? SPDX_PREDICATE
          : undefined;
  const kind = (Object.keys(PREDICATE_OF) as AttachmentKind[]).find((k) => PREDICATE_OF[k] === predicate);
  return kind ?? null;
}

/** Whether the referrer is signed inside (a sigstore bundle) or needs a GPG signature of its manifest. */
export function isBundle(d: Descriptor): boolean {
  return d.artifactType === SIGSTORE_BUNDLE_MEDIA_TYPE;
}

type Subject = ArtifactSpec['subject'];

export function bundleArtifact(
  kind: AttachmentKind,
  subject: Subject,
  bundle: SigstoreBundle,
  at: { created: string; key: string },
): ArtifactSpec {
  return {
    artifactType: SIGSTORE_BUNDLE_MEDIA_TYPE,
    subject,
    blobs: [{ mediaType: SIGSTORE_BUNDLE_MEDIA_TYPE, bytes: Buffer.from(JSON.stringify(bundle)) }],
    annotations: {
      [CONTENT_ANNOTATION]: 'dsse-envelope',
      [PREDICATE_ANNOTATION]: PREDICATE_OF[kind],
      [CREATED_ANNOTATION]: at.created,
      [KEY_ANNOTATION]: at.key,
    },
  };
}

/** An attestation without a sigstore key: the document itself, GPG-signed through its manifest digest. */
export function plainArtifact(
  kind: 'sbom' | 'provenance',
  subject: Subject,
  content: { sbom?: unknown; statement?: Statement },
  at: { created: string; key: string },
): ArtifactSpec {
  const sbom = kind === 'sbom';
  const mediaType = sbom ? SPDX_MEDIA_TYPE : IN_TOTO_MEDIA_TYPE;
  return {
    artifactType: mediaType,
    subject,
    blobs: [{ mediaType, bytes: Buffer.from(JSON.stringify(sbom ? content.sbom : content.statement)) }],
    annotations: {
      ...(sbom ? {} : { [IN_TOTO_PREDICATE_ANNOTATION]: PREDICATE_OF[kind] }),
      [CREATED_ANNOTATION]: at.created,
      [KEY_ANNOTATION]: at.key,
    },
  };
}
