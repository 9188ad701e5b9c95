// Names inside a layer tar, checked before anything touches the disk. A name is a relative path
// made of plain components: "./" prefixes and doubled slashes are harmless and dropped, but an
// absolute name or a ".." component can only be an attempt to write outside the root file
// system, so it is an error naming the entry (Docker and containerd clean such names instead;
// arbor refuses the layer, as nothing a builder produces looks like that).
//
// Names are the layer's bytes as latin1 strings (tar-reader.ts): compared byte for byte, turned
// back into those bytes for the file system (fsPath), and shown escaped (displayName).

/** Why a name cannot be a path inside a layer, or the path as `a/b/c` ('' is the root). */
export type ParsedPath = { ok: true; path: string } | { ok: false; reason: string };

const NAME_MAX = 255;

export function parseEntryPath(name: string): ParsedPath {
  if (name.includes('\0')) return { ok: false, reason: 'contains a NUL byte' };
  if (name.startsWith('/')) return { ok: false, reason: 'is an absolute path' };
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return { ok: false, reason: 'contains ".."' };
    // Linux's NAME_MAX: such a file cannot be created (Docker fails the pull with ENAMETOOLONG).
    if (part.length > NAME_MAX) return { ok: false, reason: `has a component longer than ${NAME_MAX} bytes` };
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

/** Layer names that are ASCII: their bytes and their UTF-8 text are the same. */
const ASCII = /^[\x00-\x7f]*$/;

/** A layer name (a link target) as the file system takes it: a string when ASCII, else its bytes. */
export function fsName(name: string): string | Buffer {
  return ASCII.test(name) ? name : Buffer.from(name, 'latin1');
}

/**
 * `root` (a path of this machine) joined with a layer path, as the bytes the layer holds: a string
 * when the name is ASCII (almost every name: no Buffer per file system call), else a Buffer.
 */
export function fsPath(root: string, rel: string): string | Buffer {
  if (rel === '') return root;
  if (ASCII.test(rel)) return `${root}/${rel}`;
  return Buffer.concat([Buffer.from(root), Buffer.from(`/${rel}`, 'latin1')]);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A layer name for messages: valid UTF-8 as text, every other byte (and control characters,
 * quotes, backslashes) as \xNN, so two names that differ only in invalid bytes read differently.
 */
export function displayName(name: string): string {
  const bytes = Buffer.from(name, 'latin1');
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    let length = 0;
    let char = '';
    for (let n = 1; n <= 4 && i + n <= bytes.length && length === 0; n++) {
      try {
        char = strictUtf8.decode(bytes.subarray(i, i + n));
        length = n;
      } catch {}
    }
    const b = bytes[i]!;
    if (length === 0 || (length === 1 && (b < 0x20 || b === 0x7f || b === 0x22 || b === 0x5c))) {
      out += `\\x${b.toString(16).padStart(2, '0')}`;
      i++;
    } else {
      out += char;
      i += length;
    }
  }
  return out;
}
