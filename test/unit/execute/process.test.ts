// runLogged with real (tiny) processes: what reaches the log, the error on failure, and abort.
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BuildError } from '../../../src/execute/builders/errors.js';
import { runLogged, shellQuote } from '../../../src/execute/builders/process.js';

const logIn = async () => join(await mkdtemp(join(tmpdir(), 'arbor-proc-')), 'nested', 'x.log');

describe('runLogged', () => {
  it('writes the command line and all output to the log and returns stdout when asked', async () => {
    const log = await logIn();
    const out = await runLogged('/bin/sh', ['-c', 'echo to-stdout; echo to-stderr >&2'], {
      step: 'run',
      subject: 'r:1',
      logFile: log,
      captureStdout: true,
    });
    expect(out).toBe('to-stdout');
    const text = await readFile(log, 'utf8');
    expect(text).toContain(`$ /bin/sh -c 'echo to-stdout; echo to-stderr >&2'\n`);
    expect(text).toContain('to-stdout\n');
    expect(text).toContain('to-stderr\n');
  });

  it('throws a BuildError with the exit code and the last 20 lines of the log', async () => {
    const log = await logIn();
    const error = await runLogged('/bin/sh', ['-c', 'for i in $(seq 1 30); do echo line $i; done; exit 3'], {
      step: 'build',
      subject: 'keystone',
      logFile: log,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BuildError);
    const b = error as BuildError;
    expect(b.exitCode).toBe(3);
    expect(b.aborted).toBe(false);
    expect(b.logTail).toHaveLength(20);
    expect(b.logTail.at(-1)).toBe('line 30');
    expect(b.logTail[0]).toBe('line 11');
    expect(b.message).toMatch(
      /^error: image keystone: sh -c exited with code 3 \(log: .*x\.log\)\n {2}\| line 28\n {2}\| line 29\n {2}\| line 30$/,
    );
  });

  it("shows the tool's last words in the message, not the command line arbor logged before them", async () => {
    const log = await logIn();
    const long = 'x'.repeat(600); // a build's command line is often longer than a short message
    const error = (await runLogged(
      '/bin/sh',
      ['-c', `echo step one; echo "Error: no space left" >&2; exit 125 # ${long}`],
      {
        step: 'build',
        subject: 'keystone',
        logFile: log,
      },
    ).catch((e: unknown) => e)) as BuildError;
    expect(error.logTail[0]).toMatch(/^\$ \/bin\/sh -c /);
    expect(error.message).toMatch(/\n {2}\| step one\n {2}\| Error: no space left$/);
    expect(error.message).not.toContain(long);
  });

  it('names a missing program', async () => {
    const error = await runLogged('/nonexistent/buildah', ['bud'], {
      step: 'build',
      subject: 'k',
      logFile: await logIn(),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BuildError);
    expect((error as BuildError).exitCode).toBeNull();
    expect((error as BuildError).message).toMatch(/buildah bud could not run: .*ENOENT/);
  });

  it('terminates the process on abort and reports it as aborted', async () => {
    const controller = new AbortController();
    const log = await logIn();
    const running = runLogged('/bin/sh', ['-c', 'echo started; exec sleep 300'], {
      step: 'build',
      subject: 'slow',
      logFile: log,
      signal: controller.signal,
    }).catch((e: unknown) => e);
    // Abort once the process has demonstrably started.
    const logged = () => readFile(log, 'utf8').catch(() => '');
    while (!(await logged()).includes('started')) await new Promise((r) => setTimeout(r, 10));
    controller.abort();
    const error = (await running) as BuildError;
    expect(error).toBeInstanceOf(BuildError);
    expect(error.aborted).toBe(true);
    expect(error.message).toContain('sh -c was cancelled');
  });

  it('quotes the logged command line like a shell would need', () => {
    expect(shellQuote('--build-arg')).toBe('--build-arg');
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote('a b')).toBe(`'a b'`);
  });
});
