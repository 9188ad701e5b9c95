// `arbor validate`: every problem `arbor plan` would find, at once, without the registry: the
// file (schema, values, paths), the graph, every Dockerfile template rendered, every build
// context and input walked (symlinks, special files), every tag template rendered and its tags
// checked against the OCI grammar. It runs plan's own code (computeDesired) for all of it; only
// external bases are not resolved (that needs their registry), a stand-in digest takes their place.
import type { Command } from 'commander';
import { formatDiagnostic } from '../../errors.js';
import { computeDesired, loadTree } from '../../plan/desired.js';
import { action } from '../action.js';
import { err, out } from '../io.js';

interface ValidateOptions {
  file: string;
}

/** What an external base "resolves" to in validate: a well-formed digest no registry was asked for. */
const UNRESOLVED_BASE_DIGEST = `sha256:${'0'.repeat(64)}`;

export function register(program: Command): void {
  program
    .command('validate')
    .description(
      'check images.yaml as plan does, short of the registry: schema, paths, parents, templates, contexts, tags',
    )
    .option('-f, --file <path>', 'the images file', 'images.yaml')
    .action(
      action<ValidateOptions>(async (_args, opts) => {
        const tree = await loadTree(opts.file);
        const { config } = tree;
        for (const warning of config.warnings ?? []) err(formatDiagnostic(warning));
        await computeDesired({ tree, resolveBase: async () => UNRESOLVED_BASE_DIGEST });
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
