// arbor's own package: its version and the files it ships (schemas/). Found by walking up from
// this module to arbor's package.json, so it works from src/ (tests), dist/ (tsc) and the
// single-file bundle alike.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'arbor')
      return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('arbor: cannot find its own package.json');
    dir = up;
  }
}

export const PACKAGE_ROOT = findRoot();

export const VERSION: string = (
  JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }
).version;

export function packageFile(...parts: string[]): string {
  return join(PACKAGE_ROOT, ...parts);
}
