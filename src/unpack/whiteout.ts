// Whiteouts as the OCI image spec writes them in a layer tar (image-layer.md, "Whiteouts"):
// `.wh.<name>` deletes <name> of the lower layers, `.wh..wh..opq` hides every lower entry of
// its directory. Other `.wh..wh.` names are AUFS bookkeeping (hard-link directories and the
// like) that never belongs to the image; they are skipped, as Docker skips them.

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';
const AUFS_META_PREFIX = '.wh..wh.';

export type WhiteoutName =
  | { kind: 'none' }
  | { kind: 'opaque' }
  | { kind: 'aufs-meta' }
  | { kind: 'whiteout'; target: string }
  | { kind: 'invalid'; reason: string };

/** Classifies the last component of an entry name. */
export function classifyName(base: string): WhiteoutName {
  if (!base.startsWith(WHITEOUT_PREFIX)) return { kind: 'none' };
  if (base === OPAQUE_MARKER) return { kind: 'opaque' };
  if (base.startsWith(AUFS_META_PREFIX)) return { kind: 'aufs-meta' };
  const target = base.slice(WHITEOUT_PREFIX.length);
  // `.wh..` and `.wh...` would delete the directory itself or its parent.
  if (target === '' || target === '.' || target === '..')
    return { kind: 'invalid', reason: `whiteout of "${target}" would delete outside its directory` };
  return { kind: 'whiteout', target };
}
