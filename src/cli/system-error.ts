// A file system error that reached the top (a path the user gave that cannot be written or read)
// in the words of the other errors: the path the user knows, what is wrong with it. Node's own
// text is `ENOENT: no such file or directory, open '/x/.p.json.tmp-123-ab12'`: an errno, and the
// temporary file an atomic write went through instead of the file asked for.

const REASONS: Record<string, string> = {
  ENOENT: 'no such file or directory (or its directory is missing)',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'is a directory',
  EEXIST: 'already exists (and is not a directory)',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  ENAMETOOLONG: 'name too long',
  ELOOP: 'too many symbolic links',
};

const VERBS: Record<string, string> = {
  open: 'open',
  read: 'read',
  write: 'write',
  mkdir: 'create the directory',
  rename: 'write',
  link: 'write',
  unlink: 'remove',
  rmdir: 'remove',
  scandir: 'list',
  stat: 'read',
  lstat: 'read',
  copyfile: 'copy to',
};

/** The path without the suffix of an atomic write's temporary file (`.name.tmp-<pid>-<hex>` → `name`). */
export function userPath(path: string): string {
  return path.replace(/(^|\/)\.?([^/]+)\.tmp-\d+-[0-9a-f]+$/, '$1$2');
}

/** One line for a Node system error with a path, or undefined for any other error. */
export function systemErrorLine(e: unknown): string | undefined {
  const error = e as Partial<NodeJS.ErrnoException> | null;
  if (typeof error?.code !== 'string' || typeof error.path !== 'string') return undefined;
  const reason = REASONS[error.code] ?? error.code;
  const verb = VERBS[error.syscall ?? ''] ?? error.syscall ?? 'use';
  return `error: cannot ${verb} ${userPath(error.path)}: ${reason}`;
}
