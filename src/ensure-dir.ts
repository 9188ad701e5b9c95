// A directory the user named (`--out`), created with its missing parents. Not mkdir's
// `recursive: true`: on a file system that refuses new entries without saying EACCES (procfs,
// sysfs), Node's recursive mkdir loops between ENOENT for the child and EEXIST for the parent,
// forever, at full CPU. Here each level is created once, and a refusal is an error.
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

export async function ensureDir(path: string): Promise<void> {
  const made = await tryMkdir(path);
  if (made !== 'missing parent') return;
  const parent = dirname(path);
  if (parent === path) throw missing(path);
  await ensureDir(parent);
  // The parent exists now: a second ENOENT is the file system refusing, and is thrown.
  if ((await tryMkdir(path)) === 'missing parent') throw missing(path);
}

/** The error mkdir gives for a path it cannot create, as the CLI reports file system errors. */
function missing(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT', path, syscall: 'mkdir' });
}

async function tryMkdir(path: string): Promise<'done' | 'missing parent'> {
  try {
    await mkdir(path);
    return 'done';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing parent';
    if (code === 'EEXIST' && (await stat(path)).isDirectory()) return 'done';
    throw e;
  }
}
