// Glue between commander and command implementations: a command's action returns its exit
// code; main() picks it up after the action ran.
import type { Command } from 'commander';
import { InterruptedError } from './interrupt.js';

export type CommandAction<O> = (
  args: string[],
  opts: O,
  cmd: Command,
) => Promise<number | undefined> | number | undefined;

/**
 * Wraps an async command body so its returned exit code reaches main(). A command stopped by
 * Ctrl-C or SIGTERM (its `interruptible` work said so, and cleaned up) exits 130 or 143.
 */
export function action<O>(fn: CommandAction<O>) {
  return async function (this: Command, ...raw: unknown[]): Promise<void> {
    const cmd = raw[raw.length - 1] as Command;
    const opts = cmd.optsWithGlobals() as O;
    const args = raw.slice(0, -2).flatMap((a) => (Array.isArray(a) ? a : a === undefined ? [] : [String(a)]));
    let code: number | undefined;
    try {
      code = (await fn(args, opts, cmd)) ?? 0;
    } catch (e) {
      if (!(e instanceof InterruptedError)) throw e;
      code = e.exitCode;
    }
    (cmd as Command & { arborExitCode?: number }).arborExitCode = code;
  };
}
