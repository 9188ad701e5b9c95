import { type Command, Option } from 'commander';
import { ArborError } from '../../errors.js';
import { exportPlan } from '../../export/index.js';
import { DEFAULT_MAX_JOBS, EXPORT_FORMATS, type ExportFormat } from '../../export/model.js';
import { VERSION } from '../../package-info.js';
import { writeFileAtomic } from '../../write-atomic.js';
import { action } from '../action.js';
import { out } from '../io.js';
import { planFor } from '../plan-source.js';

interface ExportFlags {
  format: ExportFormat;
  plan?: string;
  file: string;
  out?: string;
  maxJobs: string;
  nodeVersion: string;
}

export function register(program: Command): void {
  program
    .command('export')
    .description('write the plan as a GitHub Actions workflow, a GitLab child pipeline or a docker-bake.json')
    .addOption(
      new Option('--format <format>', 'pipeline format').choices([...EXPORT_FORMATS]).makeOptionMandatory(),
    )
    .option('--plan <plan.json>', 'a plan saved by `arbor plan --out` (default: plan now)')
    .option('-f, --file <path>', 'the image tree to plan when --plan is not given', 'images.yaml')
    .option('--out <file>', 'write to this file instead of standard output')
    .option(
      '--max-jobs <n>',
      'CI formats: fold subtrees into their parent job above this many jobs',
      String(DEFAULT_MAX_JOBS),
    )
    .option('--node-version <version>', 'CI formats: Node.js version of the jobs', '20')
    .action(
      action<ExportFlags>(async (_args, flags) => {
        const maxJobs = Number(flags.maxJobs);
        if (!/^\d+$/.test(flags.maxJobs) || maxJobs < 1) {
          throw new ArborError(`--max-jobs: expected a positive number, got "${flags.maxJobs}"`);
        }
        const plan = await planFor(flags);
        const text = exportPlan(plan, flags.format, {
          arborVersion: VERSION,
          configPath: plan.configFile,
          maxJobs,
          nodeVersion: flags.nodeVersion,
        });
        if (flags.out) {
          // Written whole or not at all: a CI reading the file never sees half a pipeline.
          await writeFileAtomic(flags.out, text);
        } else {
          out(text);
        }
        return 0;
      }),
    );
}
