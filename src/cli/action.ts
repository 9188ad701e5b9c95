// Glue between commander and command implementations: a command's action returns its exit
// code; main() picks it up after the action ran.
import type { Command } from 'commander';

export type CommandAction<O> = (
  args: string[],
  opts: O,
  cmd: Command,
) => Promise<number | undefined> | number | undefined;

/** Wraps an async command body so its returned exit code reaches main(). */
export function action<O>(fn: CommandAction<O>) {
  return async function (this: Command, ...raw: unknown[]): Promise<void> {
    const cmd = raw[raw.length - 1] as Command;
    const opts = cmd.optsWithGlobals() as O;
    const args = raw.slice(0, -2).flatMap((a) => (Array.isArray(a) ? a : a === undefined ? [] : [String(a)]));
    const code = await fn(args, opts, cmd);
    (cmd as Command & { arborExitCode?: number }).arborExitCode = code ?? 0;
  };
}
