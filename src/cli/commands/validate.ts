// `arbor validate`: every problem in images.yaml and its tree, at once, without building anything.
import type { Command } from 'commander';
import { formatDiagnostic } from '../../errors.js';
import { loadImageGraph } from '../../graph/load.js';
import { action } from '../action.js';
import { err, out } from '../io.js';

interface ValidateOptions {
  file: string;
}

export function register(program: Command): void {
  program
    .command('validate')
    .description('check images.yaml: schema, paths, references, parents and cycles; report every problem')
    .option('-f, --file <path>', 'the images file', 'images.yaml')
    .action(
      action<ValidateOptions>(async (_args, opts) => {
        const { config } = await loadImageGraph(opts.file);
        for (const warning of config.warnings ?? []) err(formatDiagnostic(warning));
        const file = config.locate([]).file;
        out(
          `${file}: ${count(config.images.length, 'image')}, ${count(config.retention.length, 'retention rule')}, ok`,
        );
        return 0;
      }),
    );
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
