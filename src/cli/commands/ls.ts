// arbor ls REPOSITORY: the tags of a repository with digest, creation time and size, straight
// from the registry (one HEAD per tag, one manifest + config read per distinct digest).
import type { Command } from 'commander';
import pLimit from 'p-limit';
import { formatBytes } from '../../plan/views/markdown.js';
import { describeImage, type ImageSummary } from '../../registry/describe.js';
import { openRegistry } from '../../registry/open.js';
import { formatReference, parseRepository } from '../../registry/reference.js';
import type { RateLimit } from '../../registry/transport/rate-limit.js';
import { action } from '../action.js';
import { err, out } from '../io.js';
import { debugSink, formatOption } from '../options.js';

interface LsFlags {
  format: 'text' | 'json';
  insecure?: boolean;
  caFile?: string;
  debug?: boolean;
}

export interface LsRow {
  tag: string;
  digest: string;
  mediaType: string;
  created?: string;
  /** Bytes a pull transfers: manifest, config and layers (every platform for an index). */
  size: number;
}

const CONCURRENCY = 8;

export function register(program: Command): void {
  const cmd = program
    .command('ls')
    .argument('<repository>', 'registry/repository, e.g. 127.0.0.1:5000/openstack/keystone')
    .description('list the tags of a repository with digest, creation time and size');
  formatOption(cmd, ['text', 'json'], 'text');
  cmd
    .option('--insecure', 'plain HTTP (a registry on loopback without TLS)')
    .option('--ca-file <file>', 'trust this PEM CA for the registry, besides the system roots')
    .action(
      action<LsFlags>(async ([input], flags) => {
        const { registry, repository } = parseRepository(input ?? '');
        const debug = debugSink(flags);
        const session = openRegistry({
          registry,
          ...(flags.insecure ? { insecure: true } : {}),
          ...(flags.caFile ? { caFile: flags.caFile } : {}),
          ...(debug ? { debug } : {}),
        });
        try {
          const { client } = session;
          const limit = pLimit(CONCURRENCY);
          const tags = (await client.listTags(repository)).sort((a, b) =>
            a.localeCompare(b, 'en', { numeric: true }),
          );
          const heads = await Promise.all(
            tags.map((tag) => limit(() => client.headManifest(repository, tag))),
          );
          const summaries = new Map<string, Promise<ImageSummary>>();
          for (const head of heads)
            if (head && !summaries.has(head.digest))
              summaries.set(
                head.digest,
                limit(() => describeImage(client, repository, head.digest)),
              );
          const rows: LsRow[] = [];
          for (const [i, tag] of tags.entries()) {
            const head = heads[i];
            // A tag deleted between the list and the HEAD is simply not there any more.
            if (!head) continue;
            const summary = await summaries.get(head.digest)!;
            rows.push({
              tag,
              digest: head.digest,
              mediaType: head.mediaType,
              ...(summary.created ? { created: summary.created } : {}),
              size: summary.totalSize,
            });
          }
          const name = formatReference({ registry, repository });
          if (flags.format === 'json') {
            out(
              JSON.stringify(
                {
                  repository: name,
                  tags: rows,
                  ...(client.rateLimit ? { rateLimit: client.rateLimit } : {}),
                },
                null,
                2,
              ),
            );
          } else {
            out(renderTable(rows));
            if (client.rateLimit) err(rateLimitLine(client.rateLimit));
          }
          return 0;
        } finally {
          await session.close();
        }
      }),
    );
}

function renderTable(rows: LsRow[]): string {
  const table = [
    ['TAG', 'DIGEST', 'CREATED', 'SIZE'],
    ...rows.map((r) => [r.tag, r.digest, r.created ?? '-', formatBytes(r.size)]),
  ];
  const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
  return table
    .map((row) => row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  '))
    .join('\n');
}

export function rateLimitLine(rateLimit: RateLimit): string {
  const of = rateLimit.limit !== undefined ? ` of ${rateLimit.limit}` : '';
  const window = rateLimit.windowSeconds ? ` per ${Math.round(rateLimit.windowSeconds / 3600)} h` : '';
  return `pull budget: ${rateLimit.remaining}${of}${window} left`;
}
