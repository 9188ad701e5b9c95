// arbor promote plan|apply|rollback: a gated release of the tree's registry published to the
// targets under `promote:` in images.yaml (docs/promote.md).
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { Config, PromoteTarget } from '../../config/model.js';
import { ArborError } from '../../errors.js';
import { RegistryClients } from '../../plan/clients.js';
import { configTextDigest, PlanHeads, sameRegistry } from '../../plan/prefetch.js';
import { type PromotePlan, promoteHasChanges, promoteHasProblems } from '../../promote/model.js';
import {
  expectedHeads,
  loadPromotePrefetch,
  promotePrefetchFile,
  savePromotePrefetch,
} from '../../promote/prefetch.js';
import { renderPromoteText } from '../../promote/views.js';
import { DigestCache, registryCacheDir } from '../../registry/digest-cache.js';
import type { GpgSigningKey } from '../../sign/gpg-signatures.js';
import { writeFileAtomic } from '../../write-atomic.js';
import { action } from '../action.js';
import { confirm } from '../confirm.js';
import { interruptible } from '../interrupt.js';
import { err, out } from '../io.js';
import { debugSink, fileOption, formatOption, tagValue } from '../options.js';
import { openPromoteSigners, signAtTarget, taggedAtTarget } from '../target-signing.js';
import { refuseTreeOutput } from '../tree-outputs.js';

// Only what the previous promotion's HEADs need is imported above. A no-op promotion (HEADs, then
// "No changes") is bound by start-up, and compiling code it never runs costs it about as much as
// the registry's answers: loading images.yaml and planning are imported once those HEADs are sent;
// what carries a plan out (promote-run.ts), signature checks (openpgp, sigstore), rollback and this
// checkout's fingerprints (the default release name) when they are used.

interface PromoteFlags {
  file: string;
  to?: string[];
  release?: string;
  format: 'text' | 'json';
  out?: string;
  detailedExitcode?: boolean;
  autoApprove?: boolean;
  debug?: boolean;
}

export function register(program: Command): void {
  const promote = program
    .command('promote')
    .description('publish a gated release to the registries under `promote:` (plan, apply, rollback)');

  const plan = promote.command('plan').description('what a promotion would copy and tag, per target');
  common(plan);
  plan
    .option('--out <file>', 'save the plan for `arbor promote apply FILE`')
    .option('--detailed-exitcode', 'exit 2 when the plan has changes, 0 when it has none')
    .action(
      action<PromoteFlags>(async (_args, flags) => {
        const session = await open(flags);
        try {
          // Before the gates run: a plan that could not be saved would have run them for nothing.
          if (flags.out) refuseTreeOutput(session.config, flags.out, '--out');
          const planned = await interruptible(
            (signal) => session.plan(flags.release, undefined, false, signal),
            'Interrupted: stopping (a gate command running is stopped too); nothing was copied or tagged.',
          );
          if (flags.out) await savePlan(flags.out, planned.plan);
          print(planned.plan, flags.format);
          if (promoteHasProblems(planned.plan)) return 1;
          return flags.detailedExitcode && promoteHasChanges(planned.plan) ? 2 : 0;
        } finally {
          await session.close();
        }
      }),
    );

  const apply = promote
    .command('apply')
    .argument('[plan.json]', 'a plan saved by `arbor promote plan --out`; without it, plan now and apply')
    .description('copy the release to the targets, then flip their tags all together');
  common(apply);
  apply.option('--auto-approve', 'do not ask before promoting').action(
    action<PromoteFlags>(async ([planFile], flags) => {
      // With --format json, stdout is the plan's JSON alone; what the promotion did goes to stderr.
      const say = flags.format === 'json' ? err : out;
      const session = await open(flags);
      try {
        return await interruptible(
          (signal) => promoteApply(session, flags, planFile, say, signal),
          'Interrupted: stopping; no tag moved unless the final burst had begun, which finishes. Run the same command again to complete the promotion.',
        );
      } finally {
        await session.close();
      }
    }),
  );

  const back = promote
    .command('rollback')
    .description("put the target's tags back where they were before the last promotion");
  fileOption(back);
  back
    .requiredOption('--to <name>', 'the target to roll back')
    .option('--auto-approve', 'do not ask')
    .action(
      action<PromoteFlags & { to: string }>(async (_args, flags) => {
        // The journal says what to put back: the checkout's paths play no part.
        const [{ loadImageGraph }, { selectTargets }] = await Promise.all([
          import('../../graph/load.js'),
          import('../../promote/planner.js'),
        ]);
        const { config } = await loadImageGraph(resolve(flags.file), { pathChecks: false });
        const [target] = selectTargets(config, [String(flags.to)]);
        const { journalDir, lastUndoable, readJournal, unreadableSince } = await import(
          '../../promote/journal.js'
        );
        const [{ rollback }, { releasesRepository }] = await Promise.all([
          import('../../promote/rollback.js'),
          import('../../release/store.js'),
        ]);
        const dir = journalDir(config.root, target!.name);
        const journal = await readJournal(dir, target!.name, target!.registry.url);
        const clients = new RegistryClients(config, debugOptions(flags));
        try {
          const last = lastUndoable(journal);
          const skipped = unreadableSince(journal, last);
          if (skipped.length > 0)
            throw new ArborError(
              `cannot roll back ${target!.name}: the journal's newest ${skipped.length === 1 ? 'entry' : 'entries'} (${skipped.map((n) => join(dir, n)).join(', ')}) cannot be read, and rolling back would undo an older promotion instead. Restore ${skipped.length === 1 ? 'that file' : 'those files'}, or move ${skipped.length === 1 ? 'it' : 'them'} aside to roll back the promotion before.`,
            );
          if (!last) {
            out(`Nothing to roll back at ${target!.name}.`);
            return 0;
          }
          out(
            `Rolling back ${target!.name}: release ${last.release}, ${last.tags.length} tag(s) to put back.`,
          );
          if (!flags.autoApprove && !(await confirm('Roll back?', 'refusing to roll back without asking')))
            return 1;
          const result = await rollback(
            clients.forRegistry(target!.registry),
            journal,
            dir,
            releasesRepository(target!.registry.namespace, config.releases.repository),
          );
          if (!result) return 0;
          out(
            `${target!.name}: ${result.restored} tag(s) restored together in ${result.flip.windowMs} ms${result.removed.length ? `, ${result.removed.length} removed` : ''}.`,
          );
          if (result.leftInPlace.length > 0)
            out(
              `Left in place (new with that promotion; this registry cannot delete a tag alone): ${result.leftInPlace.join(', ')}`,
            );
          if (result.record === 'removed')
            out(
              `The record of release ${last.release} at ${target!.name} is removed: it no longer holds that release.`,
            );
          if (result.record === 'left')
            out(
              `The record of release ${last.release} stays at ${target!.name} (this registry does not delete manifests): arbor releases still lists it there.`,
            );
          if (result.alreadyBack.length > 0)
            out(`Already back on their digests from before that promotion: ${result.alreadyBack.join(', ')}`);
          if (result.movedSince.length > 0)
            out(
              `Left in place (moved since that promotion; a rollback does not undo a later change): ${result.movedSince.join(', ')}`,
            );
          if (result.unknownBefore.length > 0)
            out(
              `Left in place (unreadable at the target before that promotion, so what they named is unknown): ${result.unknownBefore.join(', ')}`,
            );
          return 0;
        } finally {
          await clients.close();
        }
      }),
    );
}

/** `promote apply`: plan (or read a saved plan and check it), then carry it out. */
async function promoteApply(
  session: Session,
  flags: PromoteFlags,
  planFile: string | undefined,
  say: (line: string) => void,
  signal: AbortSignal,
): Promise<number> {
  const saved = planFile ? await loadPromotePlan(planFile) : undefined;
  const unknown = (saved?.targets ?? []).filter(
    (t) => !session.config.promote.some((p) => p.name === t.target),
  );
  if (unknown.length > 0)
    throw new ArborError(
      `${planFile}: target ${unknown.map((t) => `"${t.target}"`).join(', ')} is not under promote: in images.yaml any more; run arbor promote plan again`,
    );
  const planned = await session.plan(
    saved?.release.name ?? flags.release,
    saved?.targets.map((t) => t.target),
    true,
    signal,
  );
  if (saved) await refuseStale(planFile!, saved, planned.plan);
  // The plan a saved file was checked against is the one carried out; JSON readers get it either way.
  if (!saved || flags.format === 'json') print(planned.plan, flags.format);
  if (promoteHasProblems(planned.plan)) {
    err('Promotion refused: nothing was copied or tagged.');
    return 1;
  }
  // Targets that sign their tags: the key is tried before anything moves.
  const signers = await openPromoteSigners(session.config, planned.targets);
  if (!promoteHasChanges(planned.plan)) {
    say('No changes: every target already has the release.');
    // A rerun after an interrupted signing still writes what is missing.
    await signPromoted(signers, planned.plan, say);
    return 0;
  }
  if (!saved && !flags.autoApprove && !(await confirm('Promote?', 'refusing to promote without asking'))) {
    err('Promotion cancelled.');
    return 1;
  }
  const { carryOut } = await import('../promote-run.js');
  await carryOut({
    config: session.config,
    plan: planned.plan,
    record: planned.stored.record,
    source: planned.source,
    targets: planned.targets,
    ledgers: planned.ledgers,
    clients: session.clients,
    onStep: (target, step) => err(`${target}: ${step}`),
    say,
    signal,
  });
  await signPromoted(signers, planned.plan, say);
  // Bounded like retention's use of it: at most once a day, entries unused for 30 days.
  await session.manifestCache.pruneIfDue();
  return 0;
}

function common(cmd: Command): void {
  fileOption(cmd);
  formatOption(cmd, ['text', 'json'], 'text');
  cmd
    .option('--to <name...>', 'only these targets (default: every target)')
    .option(
      '--release <name>',
      "the release to promote (default: this checkout's release)",
      tagValue('--release'),
    );
}

function debugOptions(flags: { debug?: boolean }) {
  const debug = debugSink(flags);
  return debug ? { debug } : {};
}

function print(plan: PromotePlan, format: 'text' | 'json'): void {
  out(format === 'json' ? JSON.stringify(plan, null, 2) : renderPromoteText(plan));
}

/**
 * The loaded config, its clients, and planning for a release (this checkout's by default).
 * Planning starts once images.yaml itself is good, while the paths it names are checked (only
 * without `--release`) and its graph is built: what a promotion reads first is on the network
 * (the release record, then a HEAD per tag), and nothing it plans is shown or done before the
 * tree loaded without a problem.
 */
async function open(flags: PromoteFlags) {
  const file = resolve(flags.file);
  // Before images.yaml is parsed, the previous promotion's HEADs go out (promote/prefetch.ts).
  const configText = await configTextDigest(file);
  const listFile = promotePrefetchFile(file);
  const list = configText ? await loadPromotePrefetch(listFile, configText, flags.release) : null;
  const earlyClients = list
    ? new RegistryClients({ registry: list.home, root: dirname(file) }, debugOptions(flags))
    : undefined;
  const prefetched = (list?.targets ?? []).map((t) => ({
    registry: t.registry,
    heads: new PlanHeads(earlyClients!.forRegistry(t.registry), t.heads),
  }));

  let early: (config: Config) => void = () => undefined;
  const earlyConfig = new Promise<Config>((resolveEarly) => {
    early = resolveEarly;
  });
  const abandon = async () => {
    for (const p of prefetched) p.heads.stop();
    await earlyClients?.close({ abort: true });
  };
  // A named release is in the registry already: the paths of the checkout are not its business
  // (a broken template on main must not block promoting yesterday's gated release). This
  // checkout's release is computed from the tree, which must then load whole.
  // The config and planning code (0.6 MB of the bundle) is loaded once the HEADs are on their
  // way: compiled while the registry answers rather than before the first HEAD.
  const [{ loadImageGraph }, { planPromotion }] = await Promise.all([
    import('../../graph/load.js'),
    import('../../promote/planner.js'),
  ]);
  const loading = loadImageGraph(file, {
    beforePathChecks: early,
    pathChecks: flags.release === undefined,
  });
  const config = await Promise.race([earlyConfig, loading.then((t) => t.config)]).catch(async (e) => {
    await abandon();
    throw e;
  });
  // Awaited before any result is used; a failure meanwhile must not be an unhandled rejection.
  loading.catch(() => undefined);
  // The file loaded now may name other registries than the list's (it was edited meanwhile).
  const reuse =
    list !== null &&
    sameRegistry(list.home, config.registry) &&
    list.targets.every((t) => config.promote.some((p) => sameRegistry(p.registry, t.registry)));
  if (!reuse) await abandon();
  const clients = reuse && earlyClients ? earlyClients : new RegistryClients(config, debugOptions(flags));
  const observeClient = (target: PromoteTarget) =>
    reuse ? prefetched.find((p) => sameRegistry(p.registry, target.registry))?.heads.client : undefined;
  const debug = debugSink(flags);
  const defaultRelease = async () => {
    const [{ computeDesired }, { readGitInfo }, { releaseName }] = await Promise.all([
      import('../../plan/desired.js'),
      import('../../render/git.js'),
      import('../../release/from-registry.js'),
    ]);
    const desired = await computeDesired({
      tree: await loading,
      resolveBase: (ref) => clients.resolveBase(ref),
    });
    return releaseName(desired, await readGitInfo(config.root));
  };
  const session = {
    /** The config planning started with; after plan(), the tree's as loaded in full. */
    config,
    clients,
    /** Source manifests kept between promotions (the tree's registry cache, as retention's). */
    manifestCache: new DigestCache(registryCacheDir(config.root)),
    async plan(release?: string, to?: string[], prefetch = false, signal?: AbortSignal) {
      const planning = planPromotion({
        config,
        configFile: flags.file,
        clients,
        release: release ?? (await defaultRelease()),
        to: to ?? flags.to ?? [],
        prefetch,
        observeClient,
        manifestCache: session.manifestCache,
        ...(signal ? { signal } : {}),
        checkSignatures: async (record) =>
          (await import('../promote-signatures.js')).signatureProblems(config, clients, record),
      });
      planning.catch(() => undefined);
      // The tree's own problems first, as every command reports them.
      session.config = (await loading).config;
      const planned = await planning;
      if (debug && reuse) {
        const used = prefetched.reduce((n, p) => n + p.heads.usage.used, 0);
        const unused = prefetched.reduce((n, p) => n + p.heads.usage.unused, 0);
        debug(`prefetch: ${used} HEADs answered ahead of need, ${unused} sent for nothing`);
      }
      if (configText)
        await savePromotePrefetch(listFile, {
          configText,
          release: planned.plan.release.name,
          home: config.registry,
          targets: planned.plan.targets.map((t) => ({
            registry: planned.targets.find((p) => p.name === t.target)!.registry,
            heads: expectedHeads(t),
          })),
        });
      return planned;
    },
    close: () => clients.close(),
  };
  return session;
}

type Session = Awaited<ReturnType<typeof open>>;

async function loadPromotePlan(file: string): Promise<PromotePlan> {
  const { parseSavedPromotePlan } = await import('../../promote/saved-plan.js');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ArborError(
      `${file}: cannot read the saved plan (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
  return parseSavedPromotePlan(text, file);
}

async function savePlan(file: string, plan: PromotePlan): Promise<void> {
  try {
    await writeFileAtomic(file, `${JSON.stringify(plan, null, 2)}\n`);
  } catch (e) {
    throw new ArborError(
      `${file}: cannot save the plan (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
    );
  }
}

/** A saved plan is applied only when planning again gives the same actions and tags. */
async function refuseStale(file: string, saved: PromotePlan, fresh: PromotePlan): Promise<void> {
  const { staleDifferences } = await import('../../promote/saved-plan.js');
  const differences = staleDifferences(saved, fresh);
  if (differences.length > 0)
    throw new ArborError([
      {
        severity: 'error',
        message: `${file}: the saved promotion plan is stale; run arbor promote plan again:`,
      },
      ...differences.map((message) => ({ severity: 'error' as const, message: `  ${message}` })),
    ]);
}

/** Each signing target's tags, signed for that registry after its tags are in place. */
async function signPromoted(
  signers: Map<string, GpgSigningKey>,
  plan: PromotePlan,
  say: (line: string) => void,
): Promise<void> {
  for (const target of plan.targets) {
    const signer = signers.get(target.target);
    if (!signer) continue;
    say(
      `${target.target}: ${await signAtTarget(signer, target.registry, target.images.map(taggedAtTarget))}`,
    );
  }
}
