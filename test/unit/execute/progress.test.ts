import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BuildError } from '../../../src/execute/builders/errors.js';
import { createProgress, describe as describeEvent, formatSeconds } from '../../../src/execute/progress.js';
import { clearSecrets, registerSecret } from '../../../src/secrets.js';

function capture() {
  let text = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  }) as unknown as NodeJS.WriteStream;
  return { stream, text: () => text };
}

/** A clock the test moves by hand. */
function clock() {
  let t = 1000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const failure = () =>
  new BuildError({
    step: 'build',
    subject: 'keystone-base',
    exitCode: 1,
    summary: 'docker build exited with code 1',
    logFile: '/r/.arbor/logs/x/keystone-base.log',
    logTail: ['Step 3/4 : RUN false', "The command '/bin/sh -c false' returned a non-zero code: 1"],
    aborted: false,
  });

describe('plain progress (no TTY)', () => {
  it('prints one line per event with the time since start, then a summary with log tails', async () => {
    const out = capture();
    const c = clock();
    const progress = createProgress({ tty: false, stream: out.stream, now: c.now });
    progress.event({ type: 'start', name: 'base' });
    c.advance(1800);
    progress.event({ type: 'step', name: 'base', step: 'push', detail: '127.0.0.1:5000/os/base:2025.1' });
    c.advance(1400);
    progress.event({ type: 'done', name: 'base', ms: 3200, label: 'built', detail: '2.1 MB uploaded' });
    progress.event({ type: 'done', name: 'tools', ms: 150, label: 'tagged' });
    progress.event({ type: 'failed', name: 'keystone-base', error: failure(), ms: 900 });
    progress.event({ type: 'skipped', name: 'keystone', reason: 'parent keystone-base failed' });
    progress.event({ type: 'cancelled', name: 'nova' });
    await progress.done();
    expect(out.text()).toBe(
      [
        '[  0.0s] base: started',
        '[  1.8s] base: pushing 127.0.0.1:5000/os/base:2025.1',
        '[  3.2s] base: built (3.2s), 2.1 MB uploaded',
        '[  3.2s] tools: tagged (0.1s)',
        '[  3.2s] keystone-base: failed (0.9s): docker build exited with code 1 (log: /r/.arbor/logs/x/keystone-base.log)',
        '[  3.2s] keystone: skipped (parent keystone-base failed)',
        '[  3.2s] nova: cancelled',
        'Apply finished in 3.2s: 1 built, 1 tagged, 1 failed, 1 skipped, 1 cancelled',
        '  failed     keystone-base: docker build exited with code 1 (log: /r/.arbor/logs/x/keystone-base.log)',
        '             | Step 3/4 : RUN false',
        "             | The command '/bin/sh -c false' returned a non-zero code: 1",
        '             log: /r/.arbor/logs/x/keystone-base.log',
        '  skipped    keystone: parent keystone-base failed',
        '  cancelled  nova',
        '',
      ].join('\n'),
    );
  });

  it('never prints a registered secret', async () => {
    registerSecret('s3cr3t-token');
    try {
      const out = capture();
      const progress = createProgress({ tty: false, stream: out.stream });
      progress.event({ type: 'failed', name: 'a', error: new Error('auth s3cr3t-token refused'), ms: 1 });
      await progress.done();
      expect(out.text()).toContain('auth *** refused');
      expect(out.text()).not.toContain('s3cr3t-token');
    } finally {
      clearSecrets();
    }
  });

  it('formats seconds with one decimal', () => {
    expect(formatSeconds(1849)).toBe('1.8s');
    expect(formatSeconds(61234, 6)).toBe('  61.2s');
    expect(describeEvent({ type: 'done', name: 'x', ms: 10 })).toBe('x: done (0.0s)');
  });
});

// listr2 chooses its live renderer by process.stdout.isTTY; each case runs once with the live
// renderer (stdout pretending to be a terminal) and once with its line fallback.
describe.each([
  ['live renderer', true],
  ['line fallback', false],
])('TTY progress, %s', (_label, stdoutIsTTY) => {
  const withStdoutTTY = async (fn: () => Promise<void>) => {
    const saved = process.stdout.isTTY;
    process.stdout.isTTY = stdoutIsTTY;
    try {
      await fn();
    } finally {
      process.stdout.isTTY = saved;
    }
  };

  it('shows each image’s final state and the summary', () =>
    withStdoutTTY(async () => {
      const out = capture();
      const progress = createProgress({
        tty: true,
        images: ['base', 'keystone-base', 'keystone'],
        stream: out.stream,
      });
      progress.event({ type: 'start', name: 'base' });
      progress.event({ type: 'step', name: 'base', step: 'build' });
      progress.event({ type: 'done', name: 'base', ms: 1800, label: 'built' });
      progress.event({ type: 'start', name: 'keystone-base' });
      progress.event({ type: 'failed', name: 'keystone-base', error: failure(), ms: 900 });
      progress.event({ type: 'skipped', name: 'keystone', reason: 'parent keystone-base failed' });
      await progress.done();
      const text = out.text();
      expect(text).toContain('base: built (1.8s)');
      expect(text).toContain('keystone-base: failed (0.9s)');
      expect(text).toContain('docker build exited with code 1');
      expect(text).toContain('keystone: skipped (parent keystone-base failed)');
      expect(text).toContain('Apply finished in');
      expect(text).toContain('1 built, 1 failed, 1 skipped');
    }));

  it('marks images that got no final event as not run when apply stops', () =>
    withStdoutTTY(async () => {
      const out = capture();
      const progress = createProgress({ tty: true, images: ['a', 'b'], stream: out.stream });
      progress.event({ type: 'start', name: 'a' });
      progress.event({ type: 'done', name: 'a', ms: 5, label: 'built' });
      await progress.done();
      expect(out.text()).toContain('b: not run');
      expect(out.text()).toMatch(/Apply finished in [\d.]+s: 1 built\n/);
    }));
});
