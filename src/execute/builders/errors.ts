// A failed builder step is an ArborError located at the image (or the registry reference for a
// push), carrying the exit code and the tail of its log so apply can show why without the user
// opening the file.
import { ArborError } from '../../errors.js';

export type BuildStep = 'build' | 'export' | 'run' | 'remove';

export interface BuildErrorDetails {
  step: BuildStep;
  /** Image name for a build; the reference for export, run and remove. */
  subject: string;
  /** null when the process did not exit by itself (not found, killed, aborted). */
  exitCode: number | null;
  /** What went wrong in one line, e.g. `docker build exited with code 1`. */
  summary: string;
  logFile?: string;
  /** The last lines of the log (redacted). */
  logTail: string[];
  /** The step was terminated because the caller aborted it (Ctrl-C). */
  aborted: boolean;
}

/** Log lines a BuildError's message shows; the whole tail stays in `logTail` (apply prints it). */
const MESSAGE_TAIL_LINES = 3;

/**
 * The lines that say why: the end of the log, without the command lines arbor wrote there (`$ …`),
 * which would fill a short message and hide the tool's own error.
 */
function messageTail(logTail: string[]): string[] {
  return logTail.filter((line) => !line.startsWith('$ ') && line.trim() !== '').slice(-MESSAGE_TAIL_LINES);
}

export class BuildError extends ArborError {
  readonly step: BuildStep;
  readonly subject: string;
  readonly exitCode: number | null;
  readonly logFile: string | undefined;
  readonly logTail: string[];
  readonly aborted: boolean;

  constructor(details: BuildErrorDetails, options?: { cause?: unknown }) {
    const where = details.logFile ? ` (log: ${details.logFile})` : '';
    const last = messageTail(details.logTail);
    const tail = last.length > 0 ? `\n${last.map((l) => `  | ${l}`).join('\n')}` : '';
    const message = `${details.summary}${where}${tail}`;
    super(
      [
        details.step === 'build'
          ? { message, severity: 'error', image: details.subject }
          : { message: `${details.subject}: ${message}`, severity: 'error' },
      ],
      options,
    );
    this.name = 'BuildError';
    this.step = details.step;
    this.subject = details.subject;
    this.exitCode = details.exitCode;
    this.logFile = details.logFile;
    this.logTail = details.logTail;
    this.aborted = details.aborted;
  }
}
