// Names inside a layer tar, checked before anything touches the disk. A name is a relative path
// made of plain components: "./" prefixes and doubled slashes are harmless and dropped, but an
// absolute name or a ".." component can only be an attempt to write outside the root file
// system, so it is an error naming the entry (Docker and containerd clean such names instead;
// arbor refuses the layer, as nothing a builder produces looks like that).

/** Why a name cannot be a path inside a layer, or the path as `a/b/c` ('' is the root). */
export type ParsedPath = { ok: true; path: string } | { ok: false; reason: string };

export function parseEntryPath(name: string): ParsedPath {
  if (name.includes('\0')) return { ok: false, reason: 'contains a NUL byte' };
  if (name.startsWith('/')) return { ok: false, reason: 'is an absolute path' };
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return { ok: false, reason: 'contains ".."' };
    parts.push(part);
  }
  return { ok: true, path: parts.join('/') };
}

/** `a/b/c` → `a/b`; the root's parent is null. */
export function parentOf(path: string): string | null {
  if (path === '') return null;
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function joinPath(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** Every proper ancestor of a path, outermost first, without the root: `a/b/c` → [a, a/b]. */
export function ancestorsOf(path: string): string[] {
  const out: string[] = [];
  let at = path.indexOf('/');
  while (at >= 0) {
    out.push(path.slice(0, at));
    at = path.indexOf('/', at + 1);
  }
  return out;
}

/** True when `path` is `dir` or lies below it. */
export function isWithin(path: string, dir: string): boolean {
  return dir === '' || path === dir || path.startsWith(`${dir}/`);
}
