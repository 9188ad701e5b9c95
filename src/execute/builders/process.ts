// Every builder process goes through here: the command line and all its output land in the
// log file, Ctrl-C terminates it (SIGTERM, then SIGKILL), and a failure becomes a BuildError
// with the log's tail.
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { execa } from 'execa';
import { redact } from '../../secrets.js';
import { tailLines } from '../logs.js';
import { BuildError, type BuildStep } from './errors.js';

/** Time a terminated build gets to clean up (docker cancels the build in the daemon) before SIGKILL. */
export const KILL_GRACE_MS = 5_000;
/** Lines of log shown with a failure. */
export const TAIL_LINES = 20;

export interface LoggedRun {
  step: BuildStep;
  subject: string;
  logFile: string;
  signal?: AbortSignal;
  env?: Record<string, string>;
  /** Also return stdout (it is written to the log either way). */
  captureStdout?: boolean;
}

/** Runs `file args…` with its output appended to the log; returns stdout when captured. */
export async function runLogged(file: string, args: string[], run: LoggedRun): Promise<string> {
  await mkdir(dirname(run.logFile), { recursive: true });
  await appendFile(run.logFile, redact(`$ ${[file, ...args].map(shellQuote).join(' ')}\n`));
  const toLog = { file: run.logFile, append: true } as const;
  const result = await execa(file, args, {
    env: run.env,
    stdin: 'ignore',
    stdout: run.captureStdout ? ['pipe', toLog] : toLog,
    stderr: toLog,
    cancelSignal: run.signal,
    forceKillAfterDelay: KILL_GRACE_MS,
    reject: false,
  });
  if (!result.failed) return typeof result.stdout === 'string' ? result.stdout : '';

  const command = `${basename(file)} ${args[0] ?? ''}`.trim();
  const aborted = result.isCanceled || Boolean(run.signal?.aborted);
  const exitCode = typeof result.exitCode === 'number' ? result.exitCode : null;
  const summary = aborted
    ? `${command} was cancelled`
    : exitCode !== null
      ? `${command} exited with code ${exitCode}`
      : `${command} could not run: ${result.originalMessage || result.shortMessage}`;
  throw new BuildError({
    step: run.step,
    subject: run.subject,
    exitCode,
    summary,
    logFile: run.logFile,
    logTail: await tailLines(run.logFile, TAIL_LINES),
    aborted,
  });
}

function basename(file: string): string {
  return file.slice(file.lastIndexOf('/') + 1);
}

/** For the log's command line only: readable, and pasteable into a POSIX shell. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
