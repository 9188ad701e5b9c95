// vitest's globalSetup: every temporary file of a test run under one directory, removed when the
// run ends. Tests, and the CLIs and registries they start, take their directories from
// os.tmpdir(), which reads TMPDIR; many of them leave those to the run rather than each cleaning
// up after itself (a run of the unit tests alone used to leave ≈ 130 directories in /tmp). The
// workers are started after this runs, so they inherit TMPDIR.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  // Short: engine tests put Unix sockets under it (at most 107 bytes of path).
  const root = mkdtempSync(join(tmpdir(), 'arbor-test-'));
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = root;
  return () => {
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    rmSync(root, { recursive: true, force: true });
  };
}
