// arbor apply [plan.json]: carry out a saved plan (refusing a stale one), or plan and apply.
import { availableParallelism } from 'node:os';
import { type Command, Option } from 'commander';
import type { BuilderConfig } from '../../config/model.js';
import { ArborError } from '../../errors.js';
import { appliedImages, applyPlan, type ImageOutcome } from '../../execute/apply.js';
import { createBuilder } from '../../execute/builders/index.js';
import { createLogDir } from '../../execute/logs.js';
import { createProgress } from '../../execute/progress.js';
import { succeeded, summaryTable } from '../../execute/report.js';
import { RegistryClients } from '../../plan/clients.js';
import { computeDesired, loadTree } from '../../plan/desired.js';
import type { Plan } from '../../plan/model.js';
import { planTree } from '../../plan/planner.js';
import { loadPlan, staleness } from '../../plan/saved.js';
import { hasChanges, renderText } from '../../plan/views/text.js';
import { readGitInfo } from '../../render/git.js';
import { applyRetention } from '../../retention/index.js';
import { describeResult, resultSummary } from '../../retention/report.js';
import { openSigningKeys } from '../../sign/keys.js';
import { action } from '../action.js';
import { confirm } from '../confirm.js';
import { err, out, useColor } from '../io.js';
import { fileOption, type PlanningFlags, planRequestFrom, selectionOptions } from '../options.js';
import { signApplied } from '../sign-applied.js';

interface ApplyFlags extends PlanningFlags {
  concurrency?: string;
  builder?: BuilderConfig['name'];
  buildxBuilder?: string;
  autoApprove?: boolean;
  refresh?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('apply')
    .argument('[plan.json]', 'a plan saved by `arbor plan --out`; without it, plan now and apply')
    .description('build, push and tag exactly what the plan says, in parallel along the tree');
  fileOption(cmd);
  selectionOptions(cmd);
  cmd
    .option('--concurrency <n>', 'builds at once (default: CPU count)')
    .addOption(
      new Option('--builder <name>', 'override images.yaml builder').choices([
        'docker',
        'buildah',
        'podman',
        'buildx',
      ]),
    )
    .option(
      '--buildx-builder <name>',
      'with --builder buildx: the BuildKit builder to use (remote, Kubernetes)',
    )
    .option('--auto-approve', 'do not ask before applying')
    .option('--no-retention', 'plan and apply without retention (without a saved plan)')
    .option(
      '--refresh',
      'rebuild unchanged images that declare content_fingerprint; push only those whose content changed',
    )
    .action(
      action<ApplyFlags>(async ([planFile], flags) => {
        const concurrency = parseConcurrency(flags.concurrency);
        const { plan, desired, clients } = planFile
          ? await fromSavedPlan(planFile, flags)
          : await planTree(planRequestFrom(flags));
        try {
          if (!planFile) {
            out(renderText(plan, { color: useColor() }));
            // Nothing to apply: with `signing:` the images are still signed where they are not
            // yet (a rerun after a failed signing converges); without, there is nothing to do.
            const nothingToApply = !hasChanges(plan) && !flags.refresh;
            if (nothingToApply && !desired.config.signing) return 0;
            if (
              !nothingToApply &&
              !flags.autoApprove &&
              !(await confirm('Apply this plan?', 'refusing to apply without asking'))
            ) {
              err('Apply cancelled.');
              return 1;
            }
          }
          // Keys are opened (and tried) before anything changes: a wrong passphrase stops here.
          const signingKeys = await openSigningKeys(desired.config);
          const builderConfig: BuilderConfig = {
            ...desired.config.builder,
            ...(flags.builder ? { name: flags.builder } : {}),
            ...(flags.buildxBuilder ? { buildxBuilder: flags.buildxBuilder } : {}),
          };
          const controller = new AbortController();
          let interrupts = 0;
          const onSigint = () => {
            interrupts++;
            if (interrupts === 1) {
              err(
                'Interrupted: no new builds start; stopping running builds (Ctrl-C again to exit at once).',
              );
              controller.abort();
            } else process.exit(130);
          };
          process.on('SIGINT', onSigint);
          process.on('SIGTERM', onSigint);
          const progress = createProgress({
            // A live list only for a person at a terminal; CI logs get one line per event.
            tty: Boolean(process.stderr.isTTY) && !process.env.CI,
            images: appliedImages(plan, desired, flags.refresh ?? false),
            stream: process.stderr,
          });
          const logDir = await createLogDir(desired.config.root);
          const builder = createBuilder(builderConfig);
          const git = await readGitInfo(desired.config.root);
          let outcomes: ImageOutcome[];
          try {
            outcomes = await applyPlan({
              plan,
              desired,
              clients,
              builder,
              concurrency,
              logDir,
              git,
              signal: controller.signal,
              refresh: flags.refresh ?? false,
              onEvent: (e) => progress.event(e),
            });
          } finally {
            await progress.done();
            process.off('SIGINT', onSigint);
            process.off('SIGTERM', onSigint);
          }
          out(summaryTable(outcomes));
          if (!succeeded(outcomes)) {
            if (plan.deletions.length > 0)
              err(
                `Retention: ${plan.deletions.length} planned deletion(s) not made, because a build or push failed.`,
              );
            return 1;
          }
          if (signingKeys)
            out(
              await signApplied({
                keys: signingKeys,
                plan,
                desired,
                outcomes,
                clients,
                git,
                builder,
                builderConfig,
                logDir,
              }),
            );
          await applyDeletions(plan, clients);
          return 0;
        } finally {
          await clients.close();
        }
      }),
    );
}

/**
 * Retention runs last, and only after every build and push succeeded: its decisions assume the
 * tags images.yaml wants exist now. Each digest is re-checked just before it is deleted.
 */
async function applyDeletions(plan: Plan, clients: RegistryClients): Promise<void> {
  if (plan.deletions.length === 0) return;
  const applied = await applyRetention(plan.deletions, clients.home, {
    onResult: (r) => out(describeResult(r)),
  });
  out(resultSummary(applied, { dockerHub: false }).join('\n'));
}

function parseConcurrency(value: string | undefined): number {
  if (value === undefined) return availableParallelism();
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new ArborError(`--concurrency must be a positive integer, got "${value}"`);
  return n;
}

async function fromSavedPlan(file: string, flags: ApplyFlags) {
  const plan: Plan = await loadPlan(file);
  const tree = await loadTree(plan.configFile ?? flags.file);
  const clients = new RegistryClients(tree.config);
  try {
    const desired = await computeDesired({
      tree,
      only: plan.images.map((i) => i.name),
      resolveBase: (ref) => clients.resolveBase(ref),
    });
    const problems = await staleness(plan, desired, clients.home);
    if (problems.length > 0)
      throw new ArborError([
        { severity: 'error', message: `${file}: the saved plan is stale; run arbor plan again:` },
        ...problems.map((message) => ({ severity: 'error' as const, message: `  ${message}` })),
      ]);
    return { plan, desired, clients };
  } catch (e) {
    await clients.close();
    throw e;
  }
}
