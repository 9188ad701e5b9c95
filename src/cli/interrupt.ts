// Ctrl-C and SIGTERM during a long command: the work is aborted through its signal (it cleans up
// after itself: temporary files removed, nothing half-visible), then the command exits with the
// shell's convention, 128 + the signal's number. A second Ctrl-C exits at once.
import { err } from './io.js';

export class InterruptedError extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
    this.name = 'InterruptedError';
  }

  get exitCode(): number {
    return this.signal === 'SIGTERM' ? 143 : 130;
  }
}

export async function interruptible<T>(
  work: (signal: AbortSignal) => Promise<T>,
  notice: string,
): Promise<T> {
  const controller = new AbortController();
  let received: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (received !== undefined) process.exit(new InterruptedError(signal).exitCode);
    received = signal;
    err(notice);
    controller.abort(new InterruptedError(signal));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work(controller.signal);
  } catch (e) {
    if (received !== undefined) throw new InterruptedError(received);
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
