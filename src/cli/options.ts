// Flags shared by the commands that read images.yaml, declared once.
import { type Command, Option } from 'commander';

export interface TreeFlags {
  file: string;
  only?: string[];
  withDescendants?: boolean;
  debug?: boolean;
}

export function fileOption(cmd: Command): Command {
  return cmd.option('-f, --file <path>', 'the image tree', 'images.yaml');
}

export function selectionOptions(cmd: Command): Command {
  return cmd
    .option('--only <name...>', 'only these images (and their ancestors, needed to build them)')
    .option('--with-descendants', 'with --only: also every image built on the selected ones');
}

export function formatOption(cmd: Command, formats: string[], fallback: string): Command {
  return cmd.addOption(new Option('--format <format>', 'output format').choices(formats).default(fallback));
}

/** A debug sink for registry/process details, or undefined when --debug is off. */
export function debugSink(flags: { debug?: boolean }): ((line: string) => void) | undefined {
  return flags.debug ? (line) => process.stderr.write(`debug: ${line}\n`) : undefined;
}
