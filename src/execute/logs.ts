// Build logs: one directory per apply run, one file per image, so a failure can point at the
// full log and show only its tail.
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import { redact } from '../secrets.js';

/** `2025-01-31T12-34-56-789Z`: sortable, and free of `:` so it is a valid name everywhere. */
export function logTimestamp(at: Date): string {
  return at.toISOString().replace(/[:.]/g, '-');
}

/** Creates and returns `<root>/.arbor/logs/<timestamp>/`. */
export async function createLogDir(root: string, startedAt: Date = new Date()): Promise<string> {
  const dir = join(root, '.arbor', 'logs', logTimestamp(startedAt));
  await mkdir(dir, { recursive: true });
  return dir;
}

/** `<dir>/<image>.log`; characters that cannot be in a file name become `_`. */
export function logFileFor(dir: string, image: string): string {
  return join(dir, `${image.replace(/[^A-Za-z0-9._-]/g, '_')}.log`);
}

const CHUNK = 64 * 1024;

/**
 * The last `n` lines of a file (without a trailing empty line), redacted. Reads backwards in chunks,
 * so a multi-megabyte build log costs only its tail. A missing file has no lines.
 */
export async function tailLines(file: string, n: number): Promise<string[]> {
  if (n <= 0) return [];
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  try {
    const { size } = await handle.stat();
    let position = size;
    let chunks: Buffer[] = [];
    let newlines = 0;
    // n lines need n+1 newlines before them (the last line may or may not end with one).
    while (position > 0 && newlines <= n) {
      const length = Math.min(CHUNK, position);
      position -= length;
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, position);
      chunks = [buffer, ...chunks];
      for (const byte of buffer) if (byte === 0x0a) newlines++;
    }
    const text = Buffer.concat(chunks).toString('utf8').replace(/\r\n?/g, '\n');
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    // Reading stopped past n+1 newlines, so a partial first line is never among the last n.
    return lines.slice(-n).map(redact);
  } finally {
    await handle.close();
  }
}
