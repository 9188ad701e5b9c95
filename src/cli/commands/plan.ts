// arbor plan: what a change costs, before anything runs.
import type { Command } from 'commander';
import { savePlan } from '../../plan/saved.js';
import { renderMarkdown } from '../../plan/views/markdown.js';
import { hasChanges, renderJson, renderText } from '../../plan/views/text.js';
import { planTree } from '../../plan-tree.js';
import { action } from '../action.js';
import { out, useColor } from '../io.js';
import {
  fileOption,
  formatOption,
  type PlanningFlags,
  planRequestFrom,
  selectionOptions,
} from '../options.js';
import { refuseTreeOutput } from '../tree-outputs.js';

interface PlanFlags extends PlanningFlags {
  format: 'text' | 'json' | 'markdown';
  out?: string;
  detailedExitcode?: boolean;
  verbose?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('plan')
    .description('show the minimal plan: build, tag, unchanged, delete — with reasons');
  fileOption(cmd);
  selectionOptions(cmd);
  formatOption(cmd, ['text', 'json', 'markdown'], 'text');
  cmd
    .option('--out <plan.json>', 'save the plan for `arbor apply plan.json`')
    .option('--detailed-exitcode', 'exit 2 when the plan has changes, 0 when it has none')
    .option('-v, --verbose', 'list unchanged images too')
    .option('--no-retention', 'leave retention out of the plan')
    .action(
      action<PlanFlags>(async (_args, flags) => {
        const { plan, desired, clients } = await planTree(planRequestFrom(flags));
        await clients.close();
        if (flags.out) {
          refuseTreeOutput(desired.config, flags.out, '--out');
          await savePlan(plan, flags.out, desired);
        }
        if (flags.format === 'json') out(renderJson(plan));
        else if (flags.format === 'markdown') out(renderMarkdown(plan));
        else out(renderText(plan, { color: useColor(), verbose: flags.verbose ?? false }));
        return flags.detailedExitcode && hasChanges(plan) ? 2 : 0;
      }),
    );
}
