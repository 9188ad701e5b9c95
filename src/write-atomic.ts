// Files other processes (or a later run) read must appear whole or not at all: write a temporary
// file beside the target, then rename it over the target (atomic within one file system). The
// temporary name carries the pid and a random part, so concurrent writers never share one.
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface WriteAtomicOptions {
  /** Create the target's directory first (caches under `.arbor/`); default false. */
  makeDirectory?: boolean;
}

/** Writes `data` to `file` whole; on failure removes the temporary file and throws. */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  options: WriteAtomicOptions = {},
): Promise<void> {
  const temp = `${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    if (options.makeDirectory) await mkdir(path.dirname(file), { recursive: true });
    await writeFile(temp, data);
    await rename(temp, file);
  } catch (e) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw e;
  }
}
