// `.dockerignore` with Docker's semantics. Pattern parsing and matching (cleaned patterns,
// leading `/` dropped, `**`, `!` exceptions, parents of a path matching) come from
// @balena/dockerignore, a port of Moby's implementation; this file adds the one rule that lives
// in Docker's tar walk rather than in the matcher: when a directory is excluded, Docker descends
// into it only if some `!` exception pattern starts with that directory's path.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import dockerignore from '@balena/dockerignore';

export interface ContextFilter {
  /** True when Docker would not send this path (relative, POSIX). */
  excludes(relPath: string): boolean;
  /** For an excluded directory: true when Docker still walks into it looking for exceptions. */
  mustDescend(relDir: string): boolean;
}

/** Reads `<contextDir>/.dockerignore` (absent = nothing excluded). */
export function readContextFilter(contextDir: string): ContextFilter {
  let text: string;
  try {
    text = readFileSync(path.join(contextDir, '.dockerignore'), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return createContextFilter('');
    throw e;
  }
  return createContextFilter(text);
}

export function createContextFilter(dockerignoreText: string): ContextFilter {
  // Docker strips a UTF-8 byte order mark from the first line.
  const lines = dockerignoreText.replace(/^\uFEFF/, '').split(/\r?\n/);
  // Docker matches case-sensitively on Linux; the library's default is case-insensitive.
  // (A CommonJS module: under NodeNext its factory is reached as `.default`, which it also sets.)
  const matcher = dockerignore.default({ ignorecase: false }).add(lines);
  const exceptions = lines
    .map((line) => line.trim())
    .filter((line) => line.startsWith('!'))
    .map((line) => cleanPattern(line.slice(1)))
    .filter((p) => p !== '');
  const hasPatterns = lines.some((line) => line.trim() !== '' && !line.startsWith('#'));
  return {
    // Most contexts have no .dockerignore: skip the matcher's per-path work entirely.
    excludes: hasPatterns ? (relPath) => matcher.ignores(relPath) : () => false,
    mustDescend: (relDir) => {
      const prefix = `${relDir}/`;
      return exceptions.some((pattern) => `${pattern}/`.startsWith(prefix));
    },
  };
}

/** The form Docker compares exception patterns in: cleaned, POSIX, no leading `/`. */
function cleanPattern(pattern: string): string {
  const trimmed = pattern.trim();
  if (trimmed === '') return '';
  const cleaned = path.posix.normalize(trimmed).replace(/(?<=.)\/$/, '');
  return cleaned.length > 1 && cleaned.startsWith('/') ? cleaned.slice(1) : cleaned;
}
