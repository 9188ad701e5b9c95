import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogDir, logFileFor, logTimestamp, tailLines } from '../../../src/execute/logs.js';
import { clearSecrets, registerSecret } from '../../../src/secrets.js';

describe('build logs', () => {
  it('puts one directory per run under <root>/.arbor/logs with a file-system-safe timestamp', async () => {
    const root = await mkdtemp(join(tmpdir(), 'arbor-logs-'));
    const at = new Date('2025-01-31T12:34:56.789Z');
    const dir = await createLogDir(root, at);
    expect(dir).toBe(join(root, '.arbor', 'logs', '2025-01-31T12-34-56-789Z'));
    expect(await readdir(join(root, '.arbor', 'logs'))).toEqual(['2025-01-31T12-34-56-789Z']);
    expect(logTimestamp(at)).not.toMatch(/[:.]/);
    expect(logFileFor(dir, 'keystone-base')).toBe(join(dir, 'keystone-base.log'));
    expect(logFileFor(dir, 'odd/name with space')).toBe(join(dir, 'odd_name_with_space.log'));
  });

  it('tails the last lines of small and large logs, with or without a final newline', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arbor-tail-'));
    const small = join(dir, 'small.log');
    await writeFile(small, 'one\r\ntwo\nthree');
    expect(await tailLines(small, 2)).toEqual(['two', 'three']);
    expect(await tailLines(small, 10)).toEqual(['one', 'two', 'three']);
    expect(await tailLines(small, 0)).toEqual([]);

    // Several 64 KiB chunks: the tail must come from reading backwards across chunk borders.
    const large = join(dir, 'large.log');
    const lines = Array.from({ length: 30_000 }, (_, i) => `line ${i} ${'x'.repeat(i % 50)}`);
    await writeFile(large, `${lines.join('\n')}\n`);
    expect(await tailLines(large, 20)).toEqual(lines.slice(-20));

    const longLast = join(dir, 'long-last.log');
    const huge = 'y'.repeat(200_000);
    await writeFile(longLast, `first\nsecond\n${huge}`);
    expect(await tailLines(longLast, 2)).toEqual(['second', huge]);

    expect(await tailLines(join(dir, 'missing.log'), 5)).toEqual([]);
  });

  it('redacts secrets in the tail', async () => {
    registerSecret('hunter2-password');
    try {
      const file = join(await mkdtemp(join(tmpdir(), 'arbor-tail-')), 'a.log');
      await writeFile(file, 'login with hunter2-password failed\n');
      expect(await tailLines(file, 1)).toEqual(['login with *** failed']);
    } finally {
      clearSecrets();
    }
  });
});
