// One lock file per `*-archive` source, `kolla-sources/<section>.json`, listed under the
// `inputs.files` of the image that ADDs the archive. It holds what the source is (type,
// location, git reference, configured checksums) and, once fetched (`import-kolla
// --fetch-sources`), what it resolved to: the SHA-256 of a downloaded or local archive, or the
// commit of a git reference. So a changed location, reference or upstream commit changes the
// fingerprint of exactly the images that ADD that archive, and of their descendants.

import type { KollaSource } from './defaults.js';

export const SOURCES_DIR = 'kolla-sources';

export interface SourceLock {
  section: string;
  archive: string;
  kind: KollaSource['kind'];
  type: KollaSource['type'];
  location: string;
  reference?: string;
  sha256?: Record<string, string>;
  /** Filled by a fetch: the archive's SHA-256 (url, local), or the commit (git). */
  resolved?: { sha256: string } | { commit: string };
}

export function sourceLockFile(section: string): string {
  return `${SOURCES_DIR}/${section}.json`;
}

/** The lock of a source; an earlier lock of the same source keeps what it resolved to. */
export function lockOf(source: KollaSource, previous?: SourceLock): SourceLock {
  const lock: SourceLock = {
    section: source.section,
    archive: source.archive,
    kind: source.kind,
    type: source.type,
    location: source.location,
    ...(source.reference !== undefined ? { reference: source.reference } : {}),
    ...(source.sha256 !== undefined ? { sha256: source.sha256 } : {}),
  };
  if (previous?.resolved && sameSource(lock, previous)) lock.resolved = previous.resolved;
  return lock;
}

function sameSource(a: SourceLock, b: SourceLock): boolean {
  return (
    a.type === b.type &&
    a.location === b.location &&
    a.reference === b.reference &&
    JSON.stringify(a.sha256 ?? null) === JSON.stringify(b.sha256 ?? null)
  );
}

/** Reads a lock file's text; undefined when it is not one. */
export function parseLock(text: string): SourceLock | undefined {
  try {
    const value = JSON.parse(text) as SourceLock;
    return typeof value.section === 'string' && typeof value.location === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}
