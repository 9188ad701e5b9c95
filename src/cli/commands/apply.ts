// arbor apply [plan.json]: carry out a saved plan (refusing a stale one), or plan and apply.
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { durationProblem, parseDuration } from '../../config/duration.js';
import type { BuilderConfig } from '../../config/model.js';
import { ArborError } from '../../errors.js';
import { type ApplyReport, appliedImages, applyPlan } from '../../execute/apply.js';
import { createBuilder } from '../../execute/builders/index.js';
import { acquireLock } from '../../execute/lock.js';
import { createLogDir } from '../../execute/logs.js';
import { createProgress } from '../../execute/progress.js';
import { succeeded, summaryTable, tagsLine } from '../../execute/report.js';
import { RegistryClients } from '../../plan/clients.js';
import { computeDesired, loadTree } from '../../plan/desired.js';
import type { Plan } from '../../plan/model.js';
import { planTree } from '../../plan/planner.js';
import { checkSavedPlan, loadPlan } from '../../plan/saved.js';
import { hasChanges, renderText } from '../../plan/views/text.js';
import { readGitInfo } from '../../render/git.js';
import { applyRetention, planRetention, protectedTagsOf } from '../../retention/index.js';
import { describeResult, resultSummary } from '../../retention/report.js';
import { openSigningKeys } from '../../sign/keys.js';
import { action } from '../action.js';
import { publishApplyDeltas } from '../apply-deltas.js';
import { confirm } from '../confirm.js';
import { err, out, useColor } from '../io.js';
import { fileOption, type PlanningFlags, planRequestFrom, selectionOptions } from '../options.js';
import { recordRelease } from '../release-record.js';
import { signApplied } from '../sign-applied.js';

interface ApplyFlags extends PlanningFlags {
  concurrency?: string;
  builder?: BuilderConfig['name'];
  buildxBuilder?: string;
  autoApprove?: boolean;
  refresh?: boolean;
  /** False with `--no-atomic`. */
  atomic: boolean;
  lockTimeout: string;
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
    .option('--lock-timeout <duration>', 'wait this long for another apply of this checkout (e.g. 10m)', '0s')
    .option(
      '--no-atomic',
      "write each image's human tags as soon as it is published, instead of all together once everything succeeded",
    )
    .action(
      action<ApplyFlags>(async ([planFile], flags) => {
        const concurrency = parseConcurrency(flags.concurrency);
        const lockTimeoutMs = parseLockTimeout(flags.lockTimeout);
        const lock = await acquireLock(resolve(dirname(resolve(flags.file)), '.arbor', 'apply.lock'), {
          timeoutMs: lockTimeoutMs,
          command: `arbor apply${planFile ? ` ${planFile}` : ''}`,
        });
        try {
          return await applyCommand(planFile, flags, concurrency);
        } finally {
          await lock.release();
        }
      }),
    );
}

async function applyCommand(
  planFile: string | undefined,
  flags: ApplyFlags,
  concurrency: number,
): Promise<number> {
  const { plan, desired, clients } = planFile
    ? await fromSavedPlan(planFile, flags)
    : await planTree(planRequestFrom(flags));
  try {
    if (!planFile) {
      out(renderText(plan, { color: useColor() }));
      // Nothing to apply: with `signing:` the images are still signed where they are not yet (a
      // rerun after a failed signing converges); without, there is nothing to do.
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
    let interrupted: NodeJS.Signals | undefined;
    const onSignal = (signal: NodeJS.Signals) => {
      if (interrupted === undefined) {
        interrupted = signal;
        err(
          'Interrupted: no new builds start, no tag moves; stopping running builds (Ctrl-C again to exit at once).',
        );
        controller.abort();
      } else process.exit(exitCodeFor(signal));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const progress = createProgress({
      // A live list only for a person at a terminal; CI logs get one line per event.
      tty: Boolean(process.stderr.isTTY) && !process.env.CI,
      images: appliedImages(plan, desired, flags.refresh ?? false),
      stream: process.stderr,
    });
    const logDir = await createLogDir(desired.config.root);
    const builder = createBuilder(builderConfig);
    const git = await readGitInfo(desired.config.root);
    let report: ApplyReport;
    try {
      report = await applyPlan({
        plan,
        desired,
        clients,
        builder,
        concurrency,
        logDir,
        git,
        signal: controller.signal,
        refresh: flags.refresh ?? false,
        atomic: flags.atomic,
        onEvent: (e) => progress.event(e),
      });
    } finally {
      await progress.done();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
    const outcomes = report.outcomes;
    out(summaryTable(outcomes));
    const tags = tagsLine(report, flags.atomic);
    if (tags) out(tags);
    if (!succeeded(outcomes) || interrupted) {
      if (plan.deletions.length > 0)
        err(
          `Retention: ${plan.deletions.length} planned deletion(s) not made, because a build or push failed.`,
        );
      return interrupted ? exitCodeFor(interrupted) : 1;
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
    const changed = outcomes.some((o) => ['built', 'tagged', 'refreshed', 'adopted'].includes(o.status));
    if (changed) {
      // Deltas first: they are computed against the record this release name held before.
      const deltas = await publishApplyDeltas({ desired, client: clients.home, git, report });
      if (deltas) out(deltas);
      const recorded = await recordRelease({
        desired,
        client: clients.home,
        git,
        selected: Boolean(flags.only),
      });
      if (recorded) out(recorded);
    }
    await applyDeletions(plan, clients);
    return 0;
  } finally {
    await clients.close();
  }
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

/** The shell's convention: 128 + the signal's number (SIGINT 130, SIGTERM 143). */
function exitCodeFor(signal: NodeJS.Signals): number {
  return signal === 'SIGTERM' ? 143 : 130;
}

function parseLockTimeout(value: string): number {
  const problem = durationProblem(value);
  if (problem) throw new ArborError(`--lock-timeout: ${problem}`);
  return parseDuration(value);
}

function parseConcurrency(value: string | undefined): number {
  if (value === undefined) return availableParallelism();
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new ArborError(`--concurrency must be a positive integer, got "${value}"`);
  return n;
}

/**
 * A saved plan, checked before anything runs: recomputed from its config and the registry state
 * it recorded (checkSavedPlan), refused when stale or edited. The recomputed plan is the one
 * applied. A plan with deletions is checked against the whole tree, whose wanted tags retention
 * must protect.
 */
async function fromSavedPlan(file: string, flags: ApplyFlags) {
  const saved: Plan = await loadPlan(file);
  const tree = await loadTree(saved.configFile ?? flags.file);
  const clients = new RegistryClients(tree.config);
  try {
    const whole = saved.deletions.length > 0;
    const desired = await computeDesired({
      tree,
      ...(whole ? {} : { only: saved.images.map((i) => i.name) }),
      resolveBase: (ref) => clients.resolveBase(ref),
    });
    const check = await checkSavedPlan(saved, desired, clients.home, {
      planName: file,
      retention: (now) =>
        planRetention(tree.config, protectedTagsOf(tree.config, desired.images.values()), clients.home, now),
    });
    if (check.problems.length > 0) {
      const edited = check.problems.some((p) => p.kind === 'differs');
      const why = edited
        ? 'the saved plan is not what its config and the registry give (edited, or changed since the plan); refusing it'
        : 'the saved plan is stale';
      throw new ArborError([
        { severity: 'error', message: `${file}: ${why}; run arbor plan again:` },
        ...check.problems.map((p) => ({ severity: 'error' as const, message: `  ${p.message}` })),
      ]);
    }
    return { plan: check.plan, desired, clients };
  } catch (e) {
    await clients.close();
    throw e;
  }
}
