// arbor apply [plan.json]: carry out a saved plan (refusing a stale one), or plan and apply.
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { durationProblem, parseDuration } from '../../config/duration.js';
import type { BuilderConfig } from '../../config/model.js';
import { ArborError } from '../../errors.js';
import { acquireLock } from '../../execute/lock.js';
import { RegistryClients } from '../../plan/clients.js';
import { computeDesired, loadTree } from '../../plan/desired.js';
import type { Plan } from '../../plan/model.js';
import { checkSavedPlan, loadPlan } from '../../plan/saved.js';
import { hasChanges, renderText } from '../../plan/views/text.js';
import { planTree } from '../../plan-tree.js';
import { planRetention, protectedTagsOf } from '../../retention/index.js';
import type { SigningKeys } from '../../sign/keys.js';
import { action } from '../action.js';
import { confirm } from '../confirm.js';
import { err, out, useColor } from '../io.js';
import { debugSink, fileOption, type PlanningFlags, planRequestFrom, selectionOptions } from '../options.js';

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
  let signingKeys: Promise<SigningKeys | null> | undefined;
  const { plan, desired, clients } = planFile
    ? await fromSavedPlan(planFile, flags)
    : await planTree({
        ...planRequestFrom(flags),
        // Opening the signing keys (gpg, key decryption) overlaps the registry's answers; it
        // changes nothing, and its errors are reported before anything is applied.
        onConfig: (config) => {
          if (!config.signing) return;
          signingKeys = import('../../sign/keys.js').then((m) => m.openSigningKeys(config));
          signingKeys.catch(() => undefined);
        },
      });
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
    // What carries the plan out (builders, publishing, signing, deltas, retention) is loaded only
    // when there is something to do: a no-op apply costs what a plan costs.
    const { carryOut } = await import('../apply-run.js');
    const debug = debugSink(flags);
    return await carryOut({
      plan,
      desired,
      clients,
      flags,
      concurrency,
      ...(signingKeys ? { signingKeys } : {}),
      ...(debug ? { debug } : {}),
    });
  } finally {
    await clients.close();
  }
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
