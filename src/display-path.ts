import path from 'node:path';

/** A path as the user should see it: relative to `cwd` when inside it, absolute otherwise. */
export function displayPath(file: string, cwd: string = process.cwd()): string {
  const relative = path.relative(cwd, file);
  return relative === '' || relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}
