// Carrying out an apply's plan, once it is approved: builds and publications (execute/apply),
// the final tag burst, signing, layer deltas, the release record, then retention. Loaded only
// when the plan has something to do (commands/apply.ts).
import type { BuilderConfig } from '../config/model.js';
import { type ApplyReport, appliedImages, applyPlan } from '../execute/apply.js';
import { createBuilder } from '../execute/builders/index.js';
import { createLogDir } from '../execute/logs.js';
import { createProgress } from '../execute/progress.js';
import { succeeded, summaryTable, tagsLine } from '../execute/report.js';
import { phaseTimer } from '../phase-timer.js';
import type { RegistryClients } from '../plan/clients.js';
import type { DesiredState } from '../plan/desired.js';
import type { Plan } from '../plan/model.js';
import { readGitInfo } from '../render/git.js';
import { applyRetention } from '../retention/index.js';
import { describeResult, resultSummary, retentionFailures } from '../retention/report.js';
import { openSigningKeys, type SigningKeys } from '../sign/keys.js';
import { prepareTagSignatures, startAttachmentLookups } from '../sign/publish.js';
import { publishApplyDeltas } from './apply-deltas.js';
import { err, out } from './io.js';
import { recordRelease } from './release-record.js';
import { keptImages, signApplied } from './sign-applied.js';

export interface CarryOutRequest {
  plan: Plan;
  desired: DesiredState;
  clients: RegistryClients;
  flags: {
    builder?: BuilderConfig['name'];
    buildxBuilder?: string;
    refresh?: boolean;
    atomic: boolean;
    only?: string[];
  };
  concurrency: number;
  /** The signing keys, when apply started opening them while it planned. */
  signingKeys?: Promise<SigningKeys | null>;
  /** `--debug`: the time of each step after the builds and pushes. */
  debug?: (line: string) => void;
}

export async function carryOut({
  plan,
  desired,
  clients,
  flags,
  concurrency,
  signingKeys: opening,
  debug,
}: CarryOutRequest): Promise<number> {
  // Keys are opened (and tried) before anything changes: a wrong passphrase stops here.
  const phase = phaseTimer(debug);
  const signingKeys = await (opening ?? openSigningKeys(desired.config));
  if (signingKeys) phase('waiting for the signing keys');
  // Images that keep their digest (tagged or unchanged): which attachments they have is asked,
  // and their GPG signatures are made (in memory), while the builds and tags go on; signing
  // afterwards finds them there and stores the signatures once everything succeeded.
  const kept = signingKeys ? keptImages(plan, desired) : [];
  const lookups = signingKeys ? startAttachmentLookups(signingKeys, clients.home, kept) : undefined;
  const prepared = signingKeys
    ? prepareTagSignatures(signingKeys, desired.config.registry.url, kept)
    : undefined;
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
  phase('builds, pushes and tags');
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
  // Signing and the release's own records (deltas, then the record) need nothing of each other:
  // they run side by side, their lines printed in this order. Both finish before retention.
  const signing = signingKeys
    ? signApplied({
        keys: signingKeys,
        plan,
        desired,
        outcomes,
        clients,
        git,
        builder,
        builderConfig,
        logDir,
        ...(lookups ? { lookups } : {}),
        ...(prepared ? { prepared } : {}),
      })
    : Promise.resolve('');
  // A plan with nothing else to do may still owe the release its record (an earlier apply
  // stopped after its tag burst): written now, with its deltas, as that apply would have.
  const changed =
    outcomes.some((o) => ['built', 'tagged', 'refreshed', 'adopted'].includes(o.status)) ||
    plan.release !== undefined;
  const records = changed
    ? (async () => {
        // Deltas first: they are computed against the record this release name held before.
        const deltas = await publishApplyDeltas({ desired, client: clients.home, git, report });
        const recorded = await recordRelease({
          desired,
          client: clients.home,
          git,
        });
        return [deltas, recorded];
      })()
    : Promise.resolve([]);
  const [signed, written] = await Promise.allSettled([signing, records]);
  if (signed.status === 'rejected') throw signed.reason;
  if (signingKeys) out(signed.value);
  if (written.status === 'rejected') throw written.reason;
  for (const line of written.value) if (line) out(line);
  phase('signing, layer deltas and release record');
  const retentionFailed = await applyDeletions(plan, clients);
  phase('retention');
  return retentionFailed ? 1 : 0;
}

/**
 * Retention runs last, and only after every build and push succeeded: its decisions assume the
 * tags images.yaml wants exist now. Each digest is re-checked just before it is deleted.
 */
async function applyDeletions(plan: Plan, clients: RegistryClients): Promise<boolean> {
  if (plan.deletions.length === 0) return false;
  const applied = await applyRetention(plan.deletions, clients.home, {
    onResult: (r) => out(describeResult(r)),
  });
  out(resultSummary(applied, { dockerHub: false }).join('\n'));
  // Deletions the registry's errors stopped: the apply exits 1 (its images and tags are done).
  return retentionFailures(applied) > 0;
}

/** The shell's convention: 128 + the signal's number (SIGINT 130, SIGTERM 143). */
function exitCodeFor(signal: NodeJS.Signals): number {
  return signal === 'SIGTERM' ? 143 : 130;
}
