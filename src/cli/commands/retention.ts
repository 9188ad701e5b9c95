// `arbor retention plan|apply`: retention alone, across every repository the rules select.
// apply shows the plan, asks on a terminal (or takes --auto-approve), then deletes with a
// re-check of every digest just before its DELETE (apply.ts).
import { type Command, Option } from 'commander';
import { durationProblem, parseDuration } from '../../config/duration.js';
import { ArborError, formatDiagnostic } from '../../errors.js';
import { RegistryClients } from '../../plan/clients.js';
import { computeDesired, loadTree } from '../../plan/desired.js';
import { DOCKER_HUB } from '../../registry/reference.js';
import { applyRetention } from '../../retention/apply.js';
import { DockerHubClient, hubCredentialsFromEnv, hubTagTimes } from '../../retention/dockerhub.js';
import { planRetentionDetailed, protectedTagsOf, type RetentionPlan } from '../../retention/index.js';
import {
  describeDeletion,
  describeResult,
  resultSummary,
  retentionFailures,
} from '../../retention/report.js';
import { formatBytes } from '../../retention/usage.js';
import { action } from '../action.js';
import { confirm } from '../confirm.js';
import { err, out } from '../io.js';
import { debugSink, fileOption } from '../options.js';

interface RetentionFlags {
  file: string;
  repositories?: string[];
  format: 'text' | 'json';
  gracePeriod: string;
  autoApprove?: boolean;
  verbose?: boolean;
  debug?: boolean;
}

export function register(program: Command): void {
  const retention = program
    .command('retention')
    .description('delete old images by the retention rules of images.yaml, never what is still needed');
  for (const name of ['plan', 'apply'] as const) {
    const cmd = retention
      .command(name)
      .description(
        name === 'plan' ? 'show what retention would delete and why' : 'delete what retention plans',
      );
    fileOption(cmd);
    cmd
      .option('--repositories <glob...>', 'only repositories matching these globs (path or image name)')
      .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
      .option('--grace-period <duration>', 'never delete digests pushed less than this long ago', '1h')
      .option('-v, --verbose', 'also list what is kept, with every reason');
    if (name === 'apply') cmd.option('--auto-approve', 'delete without asking');
    cmd.action(action<RetentionFlags>((_args, flags) => run(name, flags)));
  }
}

async function run(mode: 'plan' | 'apply', flags: RetentionFlags): Promise<number> {
  const problem = durationProblem(flags.gracePeriod);
  if (problem) throw new ArborError(`--grace-period ${flags.gracePeriod}: ${problem}`);
  const tree = await loadTree(flags.file);
  for (const w of tree.config.warnings ?? []) err(formatDiagnostic(w));
  const debug = debugSink(flags);
  const clients = new RegistryClients(tree.config, debug ? { debug } : {});
  try {
    // Protected: every tag and fingerprint tag the current images.yaml wants.
    const desired = await computeDesired({ tree, resolveBase: (ref) => clients.resolveBase(ref) });
    const client = clients.home;
    const onHub = tree.config.registry.url === DOCKER_HUB;
    // Deleting on Hub needs its web API; planning uses it, when credentials are there, for the
    // one thing the registry API does not tell: when each tag was last pushed (the grace period).
    const hub = onHub && mode === 'apply' ? dockerHub() : onHub ? optionalDockerHub() : undefined;
    const plan = await planRetentionDetailed(
      tree.config,
      protectedTagsOf(tree.config, desired.images.values()),
      client,
      new Date(),
      {
        gracePeriodMs: parseDuration(flags.gracePeriod),
        ...(flags.repositories ? { repositories: flags.repositories } : {}),
        ...(hub ? { tagPushTimes: (repository: string) => hubTagTimes(hub, repository) } : {}),
      },
    );
    for (const d of plan.diagnostics) err(formatDiagnostic(d));
    if (mode === 'plan') {
      out(
        flags.format === 'json'
          ? renderJson(plan, client.registry)
          : renderText(plan, flags.verbose ?? false),
      );
      return 0;
    }
    if (flags.format === 'text') out(renderText(plan, flags.verbose ?? false));
    if (plan.deletions.length === 0) return 0;
    if (
      !flags.autoApprove &&
      !(await confirm(
        `Delete ${plan.deletions.length} item(s)?`,
        `retention apply would delete ${plan.deletions.length} item(s)`,
      ))
    ) {
      err('retention apply: cancelled, nothing deleted');
      return 1;
    }
    const applied = await applyRetention(plan.deletions, client, {
      ...(hub && mode === 'apply' ? { hub } : {}),
      onResult: (r) => {
        if (flags.format === 'text') out(describeResult(r));
      },
    });
    if (flags.format === 'json') {
      out(
        JSON.stringify(
          {
            formatVersion: 1,
            results: applied.results,
            bytesFreed: applied.bytesFreed,
            vanished: applied.vanished,
          },
          null,
          2,
        ),
      );
    } else {
      out(resultSummary(applied, { dockerHub: Boolean(hub) }).join('\n'));
    }
    // Deletions the registry's errors stopped are work left undone: CI must see it.
    return retentionFailures(applied) > 0 ? 1 : 0;
  } finally {
    await clients.close();
  }
}

function optionalDockerHub(): DockerHubClient | undefined {
  const credentials = hubCredentialsFromEnv();
  return credentials ? new DockerHubClient(credentials) : undefined;
}

function dockerHub(): DockerHubClient {
  const credentials = hubCredentialsFromEnv();
  if (!credentials)
    throw new ArborError(
      'docker.io: deleting needs Docker Hub credentials: set DOCKERHUB_USERNAME and DOCKERHUB_TOKEN (a personal access token with delete scope)',
    );
  return new DockerHubClient(credentials);
}

function renderText(plan: RetentionPlan, verbose: boolean): string {
  const lines: string[] = [];
  for (const d of plan.deletions)
    lines.push(
      `  - delete ${describeDeletion(d)}  [rule ${d.rule}, ${formatBytes(d.bytesFreed)}] ${d.reason}`,
    );
  if (verbose)
    for (const k of plan.kept)
      lines.push(
        `  = keep ${k.repository}@${k.digest.slice(0, 19)} ${k.tags.length > 0 ? `tags ${k.tags.join(', ')}` : '(untagged)'}: ${k.reasons.join('; ')}`,
      );
  const digests = plan.deletions.filter((d) => d.tag === null).length;
  const tags = plan.deletions.length - digests;
  const bytes = plan.deletions.reduce((n, d) => n + d.bytesFreed, 0);
  lines.push(
    `Retention: ${digests} digest(s) and ${tags} tag(s) to delete (${formatBytes(bytes)} freed), ${plan.kept.length} kept, in ${plan.histories.length} repositories.`,
  );
  return lines.join('\n');
}

function renderJson(plan: RetentionPlan, registry: string): string {
  return JSON.stringify(
    {
      formatVersion: 1,
      registry,
      deletions: plan.deletions,
      kept: plan.kept,
      warnings: plan.diagnostics.map(formatDiagnostic),
      summary: {
        delete: plan.deletions.length,
        keep: plan.kept.length,
        bytesFreed: plan.deletions.reduce((n, d) => n + d.bytesFreed, 0),
      },
    },
    null,
    2,
  );
}
