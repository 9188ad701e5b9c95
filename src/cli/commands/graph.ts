// `arbor graph`: the image tree as Mermaid, Graphviz DOT or JSON, optionally a selection of it.
import { type Command, Option } from 'commander';
import { toDot, toJson, toMermaid } from '../../graph/format.js';
import { loadImageGraph } from '../../graph/load.js';
import { action } from '../action.js';
import { out } from '../io.js';

interface GraphOptions {
  file: string;
  format: 'mermaid' | 'dot' | 'json';
  only?: string[];
  withDescendants?: boolean;
}

export function register(program: Command): void {
  program
    .command('graph')
    .description('print the image tree (parents before children)')
    .option('-f, --file <path>', 'the images file', 'images.yaml')
    .addOption(
      new Option('--format <format>', 'output format').choices(['mermaid', 'dot', 'json']).default('mermaid'),
    )
    .option('--only <name...>', 'only these images and their ancestors')
    .option('--with-descendants', 'with --only: also the descendants of the named images')
    .action(
      action<GraphOptions>(async (_args, opts) => {
        const { graph: full } = await loadImageGraph(opts.file);
        const graph = opts.only
          ? full.subgraph(full.select(opts.only, { withDescendants: opts.withDescendants ?? false }))
          : full;
        if (opts.format === 'json') out(JSON.stringify(toJson(graph), null, 2));
        else out(opts.format === 'dot' ? toDot(graph) : toMermaid(graph));
        return 0;
      }),
    );
}
