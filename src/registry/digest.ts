// Content digests: computed from bytes as they arrive and compared with what the registry claims.
import { createHash } from 'node:crypto';

const ALGORITHMS: Record<string, string> = { sha256: 'sha256', sha512: 'sha512' };

export function isDigest(ref: string): boolean {
  return /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/.test(ref) && ref.includes(':');
}

/** `sha256:<hex>` of the bytes, or with the algorithm of `like` (a digest the bytes must match). */
export function digestOf(bytes: Uint8Array, like?: string): string {
  const algorithm = (like && ALGORITHMS[like.split(':')[0] ?? '']) || 'sha256';
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** The referrers fallback tag for a subject digest: `sha256:abc…` → `sha256-abc…`. */
export function referrersTag(digest: string): string {
  return digest.replace(':', '-');
}
