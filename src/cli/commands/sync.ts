// arbor sync SOURCE TARGET: run at a site, brings a release (or the images under one tag) from
// the central registry into the site's, through layer deltas where they serve (docs/sync.md).
// SOURCE and TARGET are `registry/namespace`; no images.yaml is needed.
import type { Command } from 'commander';
import pLimit from 'p-limit';
import { ArborError } from '../../errors.js';
import { formatBytes } from '../../format-bytes.js';
import { listCatalog } from '../../registry/catalog.js';
import type { RegistryClient } from '../../registry/client.js';
import { openRegistry } from '../../registry/open.js';
import { parseReference, registryProblem, repositoryProblem } from '../../registry/reference.js';
import { RELEASE_FORMAT_VERSION, type ReleaseRecord, repositoryIn } from '../../release/record.js';
import { listReleases, readRecord, releasesRepository } from '../../release/store.js';
import { checkSignatures } from '../../sign/verify.js';
import { applySync } from '../../sync/apply.js';
import { type SyncPlan, syncHasChanges } from '../../sync/model.js';
import { observeSync } from '../../sync/observe.js';
import { planSync } from '../../sync/plan.js';
import { BlobLedger } from '../../transfer/ledger.js';
import { SourceManifests } from '../../transfer/source-manifests.js';
import { action } from '../action.js';
import { confirm } from '../confirm.js';
import { interruptible } from '../interrupt.js';
import { err, out } from '../io.js';
import { debugSink, formatOption, tagValue } from '../options.js';
import { verifyPolicy } from '../sign-targets.js';
import {
  openFlagSigner,
  type SignByFlags,
  signAtTarget,
  signByOptions,
  taggedAtTarget,
} from '../target-signing.js';

interface SyncFlags extends SignByFlags {
  release?: string;
  tag?: string;
  only?: string[];
  format: 'text' | 'json';
  autoApprove?: boolean;
  detailedExitcode?: boolean;
  planOnly?: boolean;
  deltas: boolean;
  insecure?: boolean;
  sourceInsecure?: boolean;
  targetInsecure?: boolean;
  sourceCaFile?: string;
  targetCaFile?: string;
  releasesRepository: string;
  requireSignature?: boolean;
  gpgKey?: string;
  lookaside?: string;
  sigstoreKey?: string;
  debug?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('sync')
    .argument('<source>', 'central registry/namespace, e.g. central.example:5000/openstack')
    .argument('<target>', 'site registry/namespace, e.g. 127.0.0.1:5000/openstack')
    .description(
      'bring a release into a site registry over a slow link: layer deltas, resumable, digest-exact',
    );
  formatOption(cmd, ['text', 'json'], 'text');
  cmd
    .option(
      '--release <name>',
      'the release record to sync (default: the newest at the source)',
      tagValue('--release'),
    )
    .option(
      '--tag <tag>',
      'instead of a release: every repository of the source namespace that has this tag',
      tagValue('--tag'),
    )
    .option('--only <image...>', 'only these images of the release')
    .option('--plan-only', 'show the plan and stop')
    .option('--detailed-exitcode', 'with --plan-only: exit 2 when the plan has changes')
    .option('--auto-approve', 'do not ask before syncing')
    .option('--no-deltas', 'fetch every missing layer whole')
    .option('--insecure', 'plain HTTP to both registries')
    .option('--source-insecure', 'plain HTTP to the source')
    .option('--target-insecure', 'plain HTTP to the target')
    .option('--source-ca-file <file>', 'trust this PEM CA for the source')
    .option('--target-ca-file <file>', 'trust this PEM CA for the target')
    .option(
      '--releases-repository <name>',
      'where release records are, under each namespace',
      'arbor-releases',
    )
    .option('--require-signature', 'refuse, before anything moves, images not signed with the keys given')
    .option('--gpg-key <file>', 'with --require-signature: trusted OpenPGP public key(s)')
    .option('--lookaside <dir|url>', 'with --gpg-key: where the GPG signatures are')
    .option('--sigstore-key <file>', 'with --require-signature: PEM public key of sigstore bundles');
  signByOptions(cmd);
  cmd.action(
    action<SyncFlags>(async ([sourceArg, targetArg], flags) => {
      const source = parseLocation(sourceArg ?? '', 'source');
      const target = parseLocation(targetArg ?? '', 'target');
      if (flags.release && flags.tag) throw new ArborError('--release and --tag are exclusive: name one');
      // With --format json, stdout is the plan's JSON alone; what the sync did goes to stderr.
      const say = flags.format === 'json' ? err : out;
      const debug = debugSink(flags);
      const from = openRegistry({
        registry: source.registry,
        ...(flags.insecure || flags.sourceInsecure ? { insecure: true } : {}),
        ...(flags.sourceCaFile ? { caFile: flags.sourceCaFile } : {}),
        ...(debug ? { debug } : {}),
      });
      const to = openRegistry({
        registry: target.registry,
        ...(flags.insecure || flags.targetInsecure ? { insecure: true } : {}),
        ...(flags.targetCaFile ? { caFile: flags.targetCaFile } : {}),
        ...(debug ? { debug } : {}),
      });
      try {
        const record = await releaseToSync(from.client, source.namespace, flags);
        const images = flags.only ? record.images.filter((i) => flags.only!.includes(i.name)) : record.images;
        const unknown = (flags.only ?? []).filter((n) => !record.images.some((i) => i.name === n));
        if (unknown.length > 0)
          throw new ArborError(`not in release ${record.release}: ${unknown.join(', ')}`);
        if (flags.requireSignature) {
          const policy = await verifyPolicy(flags, null);
          if (!policy.gpg && !policy.sigstore)
            throw new ArborError('--require-signature needs --gpg-key (with --lookaside) or --sigstore-key');
          const problems = await checkSignatures(
            images.map((i) => ({
              name: i.name,
              reference: parseReference(`${source.registry}/${i.repository}@${i.digest}`),
            })),
            policy,
            () => from.client,
          );
          if (problems.length > 0)
            throw new ArborError([
              {
                severity: 'error',
                message: 'sync refused: not every image is validly signed; nothing moved',
              },
              ...problems,
            ]);
        }
        // Whether the site holds the release's record (one HEAD, beside the observation): a
        // sync stopped after its tag burst finishes it instead of being taken for a no-op. Not
        // for --tag (no record) or --only (the site's record is of part of the release).
        // A site that refuses the question (no rights on the records' repository) leaves it
        // unasked, as `plan` does: what the images need does not depend on it.
        const siteRecord =
          flags.tag || flags.only
            ? undefined
            : to.client
                .headManifest(releasesRepository(target.namespace, flags.releasesRepository), record.release)
                .then((head) => head !== null)
                .catch(() => undefined);
        const manifests = new SourceManifests(from.client);
        const ledger = new BlobLedger();
        const observed = await observeSync(
          manifests,
          to.client,
          images,
          (i) => repositoryIn(target.namespace, i.name),
          { deltas: flags.deltas, ledger },
        );
        const plan = planSync({
          source,
          target,
          release: record.release,
          images: observed.images,
          presentAtTarget: observed.presentAtTarget,
          basesAtTarget: observed.basesAtTarget,
          deltas: flags.deltas,
          ...recordAtTargetIfAsked(await siteRecord),
        });
        out(flags.format === 'json' ? JSON.stringify(plan, null, 2) : renderSyncText(plan));
        if (flags.planOnly) return flags.detailedExitcode && syncHasChanges(plan) ? 2 : 0;
        // The site's key is tried before anything moves; with nothing to copy, what is not yet
        // signed (an interrupted run) still is.
        const signer = await openFlagSigner(flags);
        const sign = async () => {
          if (signer) say(await signAtTarget(signer, target.registry, plan.images.map(taggedAtTarget)));
        };
        if (!syncHasChanges(plan)) {
          await sign();
          return 0;
        }
        if (!flags.autoApprove && !(await confirm('Sync?', 'refusing to sync without asking'))) {
          err('Sync cancelled.');
          return 1;
        }
        const result = await interruptible(
          (signal) =>
            applySync({
              plan,
              record: { ...record, images },
              source: manifests,
              target: to.client,
              // A tag is not a release: no record at the site claims one was synced.
              releasesRepository: flags.tag
                ? null
                : releasesRepository(target.namespace, flags.releasesRepository),
              ledger,
              signal,
              onStep: (line) => err(line),
            }),
          'Interrupted: stopping; no tag moved unless the final burst had begun. Run the same command again to finish.',
        );
        const t = result.totals;
        say(
          `Sync: ${t.blobsUploaded} blob(s) uploaded (${formatBytes(t.bytesUploaded)}), ${result.rebuilt} rebuilt from deltas, ${t.blobsMounted} mounted, ${t.blobsPresent} already there; ${t.manifestsPut} manifest(s); ${result.referrers} referrer(s); ${result.flip.tags} tag(s) written together in ${result.flip.windowMs} ms.`,
        );
        for (const f of result.fallbacks) say(`  delta not used for ${f}`);
        await sign();
        return 0;
      } finally {
        await Promise.all([from.close(), to.close()]);
      }
    }),
  );
}

/** `host[:port]/namespace` (the namespace may be empty: `host:port`). */
function parseLocation(input: string, what: string): { registry: string; namespace: string } {
  const slash = input.indexOf('/');
  const registry = slash < 0 ? input : input.slice(0, slash);
  const namespace = slash < 0 ? '' : input.slice(slash + 1).replace(/\/+$/, '');
  const problem = registryProblem(registry) ?? (namespace ? repositoryProblem(namespace) : null);
  if (!registry || problem)
    throw new ArborError(`${what} "${input}": ${problem ?? 'expected registry/namespace'}`);
  return { registry, namespace };
}

/** The plan's record field, absent when the site was not asked or refused the question. */
function recordAtTargetIfAsked(present: boolean | undefined): { recordAtTarget?: boolean } {
  return present === undefined ? {} : { recordAtTarget: present };
}

/** The release record named (or the newest), or, with --tag, every repository of the namespace with that tag. */
async function releaseToSync(
  client: RegistryClient,
  namespace: string,
  flags: SyncFlags,
): Promise<ReleaseRecord> {
  const repository = releasesRepository(namespace, flags.releasesRepository);
  if (flags.tag) return recordFromTag(client, namespace, flags.tag, repository);
  const name = flags.release ?? (await listReleases(client, repository))[0]?.release;
  if (!name)
    throw new ArborError(
      `no release record at ${client.registry}/${repository} (name one with --release, or use --tag)`,
    );
  const stored = await readRecord(client, repository, name);
  if (!stored) throw new ArborError(`release ${name} has no record at ${client.registry}/${repository}`);
  return stored.record;
}

async function recordFromTag(
  client: RegistryClient,
  namespace: string,
  tag: string,
  releases: string,
): Promise<ReleaseRecord> {
  const prefix = namespace ? `${namespace}/` : '';
  const repositories = (await listCatalog(client)).filter(
    (r) => r.startsWith(prefix) && !r.slice(prefix.length).includes('/') && r !== releases,
  );
  const limit = pLimit(16);
  const heads = await Promise.all(repositories.map((r) => limit(() => client.headManifest(r, tag))));
  const images = repositories.flatMap((repository, i) => {
    const head = heads[i];
    if (!head) return [];
    return [
      {
        name: repository.slice(prefix.length),
        repository,
        digest: head.digest,
        mediaType: head.mediaType,
        size: head.size,
        fingerprint: '',
        fingerprintTag: '',
        tags: [tag],
      },
    ];
  });
  if (images.length === 0)
    throw new ArborError(`no repository of ${client.registry}/${namespace} has the tag ${tag}`);
  return {
    formatVersion: RELEASE_FORMAT_VERSION,
    release: tag,
    created: new Date().toISOString(),
    registry: client.registry,
    namespace,
    configDigest: '',
    images,
  };
}

function renderSyncText(plan: SyncPlan): string {
  const lines = [
    `Release ${plan.release}: ${plan.source.registry}/${plan.source.namespace} → ${plan.target.registry}/${plan.target.namespace}`,
  ];
  for (const image of plan.images) {
    if (image.action === 'none') continue;
    lines.push(
      `${image.action === 'copy' ? '+ copy' : '~ tag '} ${image.name}  + ${image.tagsToWrite.join(', ')}`,
    );
    for (const reason of image.reasons) lines.push(`      ${reason}`);
    for (const layer of image.layers)
      if (layer.source.kind !== 'present')
        lines.push(`      ${layer.digest.slice(0, 19)} ${layer.source.kind}: ${layer.source.reason}`);
  }
  if (plan.record === 'missing')
    lines.push(`+ record release ${plan.release}  not at the site (a sync stopped before writing it)`);
  const s = plan.summary;
  lines.push(
    '',
    `Plan: ${s.copy} to copy, ${s.tag} to tag, ${s.none} unchanged; blobs: ${s.present} at the site, ${s.delta} from deltas, ${s.whole} whole; ${formatBytes(s.bytesFromSource)} from the source (${formatBytes(s.bytesWithoutDeltas)} without deltas), ${formatBytes(s.bytesToTarget)} into the site.`,
  );
  return `${lines.join('\n')}\n`;
}
