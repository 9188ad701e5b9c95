// arbor bundle: images (of the tree, a release, or named on the command line) as one
// deterministic tar that is an OCI layout and a `docker save` archive at once; and
// `arbor bundle push FILE TARGET`, which loads one into a registry through the transfer engine.
// Everything but flags and printing lives in src/bundle/.
import type { Command } from 'commander';
import { type CreateReport, createBundle } from '../../bundle/create.js';
import { observeTarget } from '../../bundle/observe-target.js';
import { pushBundle } from '../../bundle/push.js';
import { hasWork, planPush, pushUnits } from '../../bundle/push-plan.js';
import {
  describeBundle,
  missingMessage,
  pushPlanJson,
  renderPushPlan,
  renderPushReport,
} from '../../bundle/push-view.js';
import { openBundle } from '../../bundle/read.js';
import {
  type BundleSelection,
  type ClientFor,
  referenceSelection,
  releaseSelection,
  sinceSelection,
  treeSelection,
} from '../../bundle/select.js';
import { parsePushTarget } from '../../bundle/target.js';
import { STDOUT_BUNDLE } from '../../bundle/write.js';
import { displayPath } from '../../display-path.js';
import { ArborError } from '../../errors.js';
import { formatBytes } from '../../plan/views/markdown.js';
import { openRegistry } from '../../registry/open.js';
import { action } from '../action.js';
import { confirm } from '../confirm.js';
import { interruptible } from '../interrupt.js';
import { err, out } from '../io.js';
import { debugSink, fileOption, formatOption, parsePlatform, tagValue } from '../options.js';
import { RegistrySessions, type RegistrySettings } from '../registry-sessions.js';
import { openFlagSigner, type SignByFlags, signAtTarget, signByOptions } from '../target-signing.js';

interface BundleFlags {
  file: string;
  out?: string;
  only?: string[];
  tag?: string;
  release?: string;
  since?: string;
  platform?: string;
  insecure?: boolean;
  caFile?: string;
  format: 'text' | 'json';
  debug?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('bundle')
    .argument(
      '[reference...]',
      'images to bundle (registry/repository[:tag][@digest]); default: the tree’s images',
    )
    .description(
      'images as one deterministic tar: an OCI layout that docker load, podman load and skopeo read (`bundle push` loads it into a registry)',
    )
    // Options after `push` belong to push.
    .enablePositionalOptions();
  fileOption(cmd);
  formatOption(cmd, ['text', 'json'], 'text');
  cmd
    .option(
      '--out <file>',
      'the bundle to write (written under a temporary name, renamed when whole); - streams it to standard output',
    )
    .option('--only <image...>', 'only these images of the tree')
    .option(
      '--tag <tag>',
      'every image of the tree at this tag (default: each at its fingerprint tag, with every tag it wants)',
      tagValue('--tag'),
    )
    .option('--release <release>', 'the images of a release record', tagValue('--release'))
    .option(
      '--since <release>',
      'an update bundle: leave out the blobs this earlier release had',
      tagValue('--since'),
    )
    .option(
      '--platform <os/arch>',
      'for multi-platform images, the platform manifest.json names for docker load (default: this machine’s)',
    )
    .option('--insecure', 'plain HTTP for the references given on the command line')
    .option('--ca-file <file>', 'trust this PEM CA for registries named on the command line')
    .action(action<BundleFlags>((refs, flags) => bundleCommand(refs, flags)));
  registerPush(cmd);
}

async function bundleCommand(refs: string[], flags: BundleFlags): Promise<number> {
  if (!flags.out)
    throw new ArborError('--out FILE is required: where to write the bundle (- for standard output)');
  const toStdout = flags.out === STDOUT_BUNDLE;
  if (toStdout && process.stdout.isTTY)
    throw new ArborError('--out -: standard output is a terminal; redirect it to a file or pipe it');
  const platform = flags.platform ? parsePlatform(flags.platform) : undefined;
  const sessions = new RegistrySessions(debugSink(flags));
  const clientFor = (settings: RegistrySettings) => sessions.client(settings);
  try {
    const selection = await selectionFrom(refs, flags, clientFor);
    const since =
      flags.since === undefined
        ? undefined
        : { release: flags.since, images: await sinceSelection(flags.file, flags.since, clientFor) };
    const report = await interruptible(
      (signal) =>
        createBundle({
          selection,
          out: flags.out!,
          clientFor,
          ...(platform ? { platform } : {}),
          ...(since ? { since } : {}),
          signal,
        }),
      'Interrupted: stopping; the bundle is not written (its temporary file is removed).',
    );
    // With the bundle on standard output, the report goes beside it, to standard error.
    const text =
      flags.format === 'json' ? JSON.stringify({ formatVersion: 1, ...report }, null, 2) : summary(report);
    (toStdout ? err : out)(text);
    return 0;
  } finally {
    await sessions.close();
  }
}

async function selectionFrom(
  refs: string[],
  flags: BundleFlags,
  clientFor: ClientFor,
): Promise<BundleSelection> {
  const treeFlags = [flags.only ? '--only' : '', flags.tag !== undefined ? '--tag' : ''].filter(Boolean);
  if (refs.length > 0 && (treeFlags.length > 0 || flags.release !== undefined))
    throw new ArborError(
      `${[...treeFlags, flags.release !== undefined ? '--release' : ''].filter(Boolean).join(' and ')} select images of the tree; they do not apply to references`,
    );
  if (flags.release !== undefined && flags.tag !== undefined)
    throw new ArborError('give --release or --tag, not both');
  if (flags.since !== undefined && refs.length > 0)
    throw new ArborError('--since names a release of the tree; it does not apply to references');
  if (refs.length > 0)
    return referenceSelection(refs, {
      ...(flags.insecure ? { insecure: true } : {}),
      ...(flags.caFile ? { caFile: flags.caFile } : {}),
    });
  if (flags.release !== undefined)
    return releaseSelection(
      { file: flags.file, release: flags.release, ...(flags.only ? { only: flags.only } : {}) },
      clientFor,
    );
  return treeSelection({
    file: flags.file,
    ...(flags.only ? { only: flags.only } : {}),
    ...(flags.tag !== undefined ? { tag: flags.tag } : {}),
  });
}

function summary(r: CreateReport): string {
  const tags = r.images.reduce((n, i) => n + i.tags.length, 0);
  const lines = [
    `Bundle: ${r.images.length} images, ${tags} tags, ${r.blobs} blobs (${formatBytes(r.blobBytes)})` +
      (r.referrers > 0 ? `, ${r.referrers} referrers` : '') +
      (r.since !== undefined
        ? `; update since ${r.since}: ${r.omitted} blobs (${formatBytes(r.omittedBytes)}) left out`
        : '') +
      '.',
    `Wrote ${r.file === STDOUT_BUNDLE ? 'standard output' : displayPath(r.file)}: ${formatBytes(r.bytes)}, ${r.sha256}`,
  ];
  if (r.notForDockerLoad)
    lines.push(
      `Not in Docker's manifest.json (zstd layers, which docker load cannot read): ${r.notForDockerLoad.join(', ')}; podman load, skopeo and bundle push take them.`,
    );
  return lines.join('\n');
}

interface PushFlags extends SignByFlags {
  insecure?: boolean;
  caFile?: string;
  autoApprove?: boolean;
  dryRun?: boolean;
  format: 'text' | 'json';
  debug?: boolean;
}

function registerPush(bundle: Command): void {
  const cmd = bundle
    .command('push')
    .argument('<bundle>', 'a file written by arbor bundle')
    .argument('<target>', 'REGISTRY[/NAMESPACE]: each image goes to NAMESPACE/<its name>')
    .description(
      'load a bundle into a registry: blobs the target lacks (mounted where it has them), manifests, then every tag at once',
    );
  formatOption(cmd, ['text', 'json'], 'text');
  cmd
    .option('--insecure', 'plain HTTP to the target')
    .option('--ca-file <file>', 'trust this PEM CA for the target, besides the system roots')
    .option('--dry-run', 'print the plan (reads only the head of the bundle) and stop')
    .option('--auto-approve', 'do not ask before pushing');
  signByOptions(cmd);
  cmd.action(action<PushFlags>(([file, target], flags) => pushCommand(file!, target!, flags)));
}

async function pushCommand(file: string, targetArg: string, flags: PushFlags): Promise<number> {
  const target = parsePushTarget(targetArg);
  if (file === STDOUT_BUNDLE)
    throw new ArborError(
      'bundle push -: a bundle is pushed from a file (a cut upload resumes by reading it again); save it to a file first',
    );
  const bundle = await openBundle(file);
  const session = openRegistry({
    registry: target.registry,
    ...(flags.insecure ? { insecure: true } : {}),
    ...(flags.caFile ? { caFile: flags.caFile } : {}),
    ...(debugSink(flags) ? { debug: debugSink(flags)! } : {}),
  });
  try {
    const { content, toc, where } = bundle.head;
    const client = session.client;
    const state = await observeTarget(client, content, toc, pushUnits(content, target.namespace));
    const plan = planPush(content, toc, target, state);
    const json = flags.format === 'json';
    if (!json)
      out(`Bundle ${describeBundle(where, toc, content.images.length)}\n${renderPushPlan(plan, where)}`);
    if (plan.missing.length > 0) {
      if (json) out(JSON.stringify({ formatVersion: 1, plan: pushPlanJson(plan) }, null, 2));
      throw new ArborError(missingMessage(plan, where, toc.since?.release ?? '?'));
    }
    if (flags.dryRun) {
      if (json) out(JSON.stringify({ formatVersion: 1, plan: pushPlanJson(plan) }, null, 2));
      return 0;
    }
    // The site's key is tried before anything moves.
    const signer = await openFlagSigner(flags);
    if (
      hasWork(plan) &&
      !flags.autoApprove &&
      !(await confirm('Push this bundle?', 'refusing to push without asking'))
    ) {
      err('Push cancelled.');
      return 1;
    }
    const report = await interruptible(
      (signal) =>
        pushBundle({
          bundle,
          file,
          plan,
          target: client,
          namespace: target.namespace,
          present: state.manifests,
          signal,
          ...(json
            ? {}
            : {
                onImage: (name: string, repository: string) =>
                  err(`pushed ${name} → ${target.registry}/${repository}`),
              }),
        }),
      'Interrupted: stopping; no tag moves (a rerun skips what was uploaded).',
    );
    out(
      json
        ? JSON.stringify({ formatVersion: 1, plan: pushPlanJson(plan), result: report }, null, 2)
        : renderPushReport(report),
    );
    if (signer) {
      const tagged = plan.images.map((i) => ({
        repository: i.repository,
        digest: i.digest,
        tags: [...i.tags.map((t) => t.tag), ...i.unchangedTags],
      }));
      const signed = await signAtTarget(signer, target.registry, tagged);
      if (!json) out(signed);
    }
    return 0;
  } finally {
    bundle.close();
    await session.close();
  }
}
