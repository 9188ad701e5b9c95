// Every command of the CLI, one file each. Adding a command: write commands/NAME.ts exporting
// `register(program)`, and add it to this list.
import type { Command } from 'commander';

type Register = (program: Command) => void;

const commands: Register[] = [];

export function registerCommands(program: Command): void {
  for (const register of commands) register(program);
}
