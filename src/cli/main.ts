// The bin entry: builds the command tree, runs it, and turns every failure into one clear
// message and an exit code (0 ok, 1 error, 2 "plan has changes" with --detailed-exitcode).
import { Command, CommanderError } from 'commander';
import { ArborError, briefMessage, formatDiagnostic } from '../errors.js';
import { VERSION } from '../package-info.js';
import { registerCommands } from './commands/index.js';
import { err } from './io.js';
import { systemErrorLine } from './system-error.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('arbor')
    .description('Terraform for container image trees')
    .version(VERSION, '-V, --version')
    .option('--debug', 'print stack traces and HTTP/process details (secrets redacted)')
    // One short line after a usage error, not the whole help (which --help prints).
    .showHelpAfterError('(see --help)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => err(s.trimEnd()) });
  await registerCommands(program, argv);

  let exitCode = 0;
  program.hook('postAction', (_this, action) => {
    const code = (action as Command & { arborExitCode?: number }).arborExitCode;
    if (typeof code === 'number') exitCode = code;
  });
  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (e) {
    return report(e, Boolean(program.opts().debug) || argv.includes('--debug'));
  }
}

function report(e: unknown, debug: boolean): number {
  if (e instanceof CommanderError) {
    // Help and version output end here too; commander has printed them already.
    return e.exitCode === 0 ? 0 : 1;
  }
  if (e instanceof ArborError) {
    for (const d of e.diagnostics) err(formatDiagnostic(d));
    if (debug && e.cause) err(String((e.cause as Error)?.stack ?? e.cause));
    return 1;
  }
  const systemError = systemErrorLine(e);
  if (systemError) {
    err(systemError);
    if (debug && e instanceof Error && e.stack) err(e.stack);
    return 1;
  }
  const message = e instanceof Error ? e.message : String(e);
  err(`error: ${briefMessage(message)}`);
  if (debug && e instanceof Error && e.stack) err(e.stack);
  return 1;
}
