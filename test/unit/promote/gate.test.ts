import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PromoteTarget } from '../../../src/config/model.js';
import { lastLine, runGate } from '../../../src/promote/gate.js';
import type { ReleaseRecord } from '../../../src/release/record.js';
import type { SourceManifests } from '../../../src/transfer/source-manifests.js';

const record: ReleaseRecord = {
  formatVersion: 1,
  release: '2025.1-p6',
  created: '2026-12-02T00:00:00Z',
  registry: 'ci.example',
  namespace: 'ci',
  configDigest: `sha256:${'0'.repeat(64)}`,
  images: [],
} as unknown as ReleaseRecord;
const withCommand = (command: string): PromoteTarget =>
  ({ name: 'site', registry: { url: 'site.example' }, gate: { command } }) as unknown as PromoteTarget;
// A command-only gate reads nothing at the source.
const noSource = undefined as unknown as SourceManifests;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gate-test-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('a gate command (run by sh)', () => {
  it('passes on exit 0 even after printing far more than any buffer (only the tail is kept)', async () => {
    // 200 MB of output, then the verdict.
    const loud = 'head -c 200000000 /dev/zero | tr "\\0" "x" | fold -w 1000; echo; echo "all passed"';
    expect(await runGate(withCommand(loud), record, noSource, dir)).toEqual({
      passed: true,
      detail: 'passed',
    });
    const failing = `${loud}; echo "final verdict: FAIL"; exit 3`;
    expect(await runGate(withCommand(failing), record, noSource, dir)).toEqual({
      passed: false,
      detail: 'command exited with 3: final verdict: FAIL',
    });
  }, 60_000);

  it('sees the record on stdin and in $ARBOR_RELEASE_FILE, and the target in the environment', async () => {
    const gate = withCommand(
      'test "$(cat)" = "$(cat "$ARBOR_RELEASE_FILE")" && test "$ARBOR_TARGET $ARBOR_RELEASE" = "site 2025.1-p6" || { echo mismatch; exit 1; }',
    );
    expect((await runGate(gate, record, noSource, dir))?.passed).toBe(true);
  });

  it('interrupted, stops everything the command started and leaves no temporary directory', async () => {
    const marker = join(dir, 'still-running');
    const before = (await readdir(tmpdir())).filter((n) => n.startsWith('arbor-gate-')).length;
    const controller = new AbortController();
    // A grandchild that would write the marker after 2 s if it survived the interrupt.
    const gate = withCommand(`(sleep 2; touch ${marker}) & wait`);
    const running = runGate(gate, record, noSource, dir, controller.signal);
    setTimeout(() => controller.abort(new Error('interrupted')), 300);
    await expect(running).rejects.toThrow('interrupted');
    await new Promise((r) => setTimeout(r, 2500));
    expect(await readdir(dir)).not.toContain('still-running');
    expect((await readdir(tmpdir())).filter((n) => n.startsWith('arbor-gate-')).length).toBe(before);
  }, 10_000);
});

describe('lastLine', () => {
  it('is the line a terminal shows last: after carriage returns, without escapes or control characters', () => {
    expect(lastLine('p 10%\rp 90%\rDONE: failed\n')).toBe('DONE: failed');
    expect(lastLine('\x1b[31mred verdict\x1b[0m\x07\n\n')).toBe('red verdict');
    expect(lastLine('')).toBeUndefined();
  });
});
