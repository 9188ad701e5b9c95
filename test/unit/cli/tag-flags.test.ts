// Flags whose value becomes part of a registry URL (a tag, a release name) are refused when they
// are not a tag, before any request (and a registry or namespace for import-kolla before it writes
// a project that cannot validate): `--tag ../../base/manifests/2025.1` once reached another
// repository's manifest. Ports 9 and 7 are discard/echo: nothing answers there, so a command that
// got as far as asking a registry would fail differently.
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../../support/cli.js';

const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'arbor-tag-flags-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function arbor(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      cwd: dir,
      env: { ...process.env, NO_COLOR: '1' },
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const failed = e as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('tag, release, registry and namespace flags', () => {
  it.each([
    [
      ['sync', '127.0.0.1:9/a', '127.0.0.1:7/b', '--tag', '../../base/manifests/2025.1'],
      '--tag "../../base/manifests/2025.1"',
    ],
    [['sync', '127.0.0.1:9/a', '127.0.0.1:7/b', '--release', 'a b'], '--release "a b"'],
    [['promote', 'plan', '--release', 'x/y'], '--release "x/y"'],
    [['unpack', '--out', 'u', '--tag', '../x'], '--tag "../x"'],
    [['bundle', '--out', 'b.tar', '--since', '-r1'], '--since "-r1"'],
    [['verify', '--release', ''], '--release "": tag is empty'],
    [['verify', '--tag', '2025.1', '--release', '2025.1-p5'], '--tag and --release are exclusive'],
    [['import-kolla', 'kolla', '--out', 'k', '--registry', 'http://x'], '--registry "http://x"'],
    [['import-kolla', 'kolla', '--out', 'k', '--namespace', 'A B'], '--namespace "A B"'],
  ])('%j is refused in one line naming the flag', async (args, named) => {
    const result = await arbor(args);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain(named);
  });
});
