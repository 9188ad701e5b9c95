// What the fingerprint module produces: per image, the Merkle fingerprint and every input
// that went into it (for `arbor explain` and for plan reasons such as "input lists/x.txt changed").

export type InputKind =
  | 'format' // the fingerprint format version
  | 'dockerfile' // the rendered Dockerfile
  | 'context' // one build-context file (path, mode, content or link target)
  | 'file' // one `inputs.files` match
  | 'env' // one `inputs.env` variable (value hashed, never shown)
  | 'base' // the resolved digest of an external `from`
  | 'args' // build args
  | 'platforms'
  | 'labels' // one image label (name = label key)
  | 'content-fingerprint' // the `content_fingerprint.command`
  | 'parent'; // the parent's fingerprint

export interface FingerprintInput {
  kind: InputKind;
  /** Path, variable name or `-` for singletons. */
  name: string;
  /** `sha256:<hex>` of this input's canonical bytes. */
  hash: string;
}

export interface ImageFingerprint {
  name: string;
  /** `sha256:<64 hex>` */
  fingerprint: string;
  /** `<prefix><first 24 hex>`, e.g. `fp-0123456789abcdef01234567`. */
  fingerprintTag: string;
  /** Sorted by kind then name: the canonical order. */
  inputs: FingerprintInput[];
}

/** One entry of a build context as Docker sends it (see context.ts). */
export interface ContextFile {
  /** Relative to the context root, POSIX separators. */
  path: string;
  type: 'file' | 'dir' | 'symlink';
  /** Permission bits (incl. setuid/setgid/sticky): Docker's COPY keeps them. */
  mode: number;
  /** Bytes; 0 for directories, the target's length for symlinks. */
  size: number;
  /** Symlinks only: the target exactly as stored in the link (never followed). */
  linkTarget?: string;
  /** Regular files only, once hashed: `sha256:<hex>` of the content. */
  hash?: string;
}

/** The image label holding the fingerprint: the registry alone says what an image was built from. */
export const FINGERPRINT_LABEL = 'org.arbor.fingerprint';
