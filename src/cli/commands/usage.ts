// `arbor usage`: registry space per repository and in total, apparent (sum over tags) next to
// real (distinct blobs), because the apparent figure is what people add up and it overstates.
import type { Command } from 'commander';
import pLimit from 'p-limit';
import { repositoryPath } from '../../config/repository.js';
import { ArborError } from '../../errors.js';
import { RegistryClients } from '../../plan/clients.js';
import { loadTree } from '../../plan/desired.js';
import { DigestCache, registryCacheDir } from '../../registry/digest-cache.js';
import { unlessNotFound } from '../../registry/errors.js';
import { DEFAULT_CONCURRENCY, observeArtifacts } from '../../retention/observe.js';
import { TagHints, tagHintsDirBeside } from '../../retention/tag-hints.js';
import { computeUsage, formatBytes, type UsageReport } from '../../retention/usage.js';
import { action } from '../action.js';
import { out } from '../io.js';
import { debugSink, fileOption, formatOption } from '../options.js';

interface UsageFlags {
  file: string;
  format: 'text' | 'json';
  debug?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('usage')
    .argument(
      '[repository...]',
      "repositories (registry path, or an image name of the tree); default: the tree's",
    )
    .description(
      'registry space per repository and in total: apparent (sum over tags) and real (distinct blobs)',
    );
  fileOption(cmd);
  formatOption(cmd, ['text', 'json'], 'text');
  cmd.action(
    action<UsageFlags>(async (args, flags) => {
      const { config } = await loadTree(flags.file);
      // Manifests and configs are immutable by digest: the cache retention planning fills serves here too.
      const cacheDir = registryCacheDir(config.root);
      const cache = new DigestCache(cacheDir);
      const hints = new TagHints(tagHintsDirBeside(cacheDir));
      const names = new Set(config.images.map((i) => i.name));
      const repositories =
        args.length > 0
          ? args.map((a) => (names.has(a) ? repositoryPath(config, a) : a))
          : config.images.map((i) => repositoryPath(config, i.name));
      const debug = debugSink(flags);
      const clients = new RegistryClients(config, debug ? { debug } : {});
      try {
        const limit = pLimit(DEFAULT_CONCURRENCY);
        // A repository named on the command line that the registry does not know is a mistake
        // (a typo, another namespace), not an empty row.
        if (args.length > 0) {
          const unknown = (
            await Promise.all(
              [...new Set(repositories)].map(async (repository) =>
                (await unlessNotFound(clients.home.listTags(repository), null)) === null ? repository : null,
              ),
            )
          ).filter((r): r is string => r !== null);
          if (unknown.length > 0)
            throw new ArborError(
              unknown.map((r) => ({
                severity: 'error' as const,
                message: `${config.registry.url}/${r}: no such repository`,
              })),
            );
        }
        const histories = await Promise.all(
          [...new Set(repositories)].map(async (repository) => ({
            repository,
            artifacts: await observeArtifacts(clients.home, repository, { limit, cache, hints }),
          })),
        );
        const report = computeUsage(histories);
        out(
          flags.format === 'json'
            ? JSON.stringify({ formatVersion: 1, registry: config.registry.url, ...report }, null, 2)
            : renderText(report),
        );
        return 0;
      } finally {
        await clients.close();
      }
    }),
  );
}

function renderText(report: UsageReport): string {
  const rows = report.repositories.map((r) => [
    r.repository,
    String(r.tags),
    formatBytes(r.apparentBytes),
    formatBytes(r.realBytes),
  ]);
  rows.push([
    'total',
    String(report.total.tags),
    formatBytes(report.total.apparentBytes),
    formatBytes(report.total.realBytes),
  ]);
  const header = ['REPOSITORY', 'TAGS', 'APPARENT', 'REAL'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    line(header),
    ...rows.map(line),
    '',
    'Apparent: the sum over tags of the image each names (what pulling every tag would transfer).',
    'Real: each stored blob once (manifests, configs, layers): tags sharing a digest or layers take their space once.',
    'The total real size counts a blob shared by several repositories once, as the registry stores it.',
  ].join('\n');
}
