// arbor inspect REFERENCE: one manifest as the registry holds it — digest, media type,
// platforms of an index, labels, creation time, layers with sizes, total size.
import type { Command } from 'commander';
import { formatBytes } from '../../plan/views/markdown.js';
import { describeImage, type ImageSummary, platformName } from '../../registry/describe.js';
import { openRegistry } from '../../registry/open.js';
import { formatReference, parseReference } from '../../registry/reference.js';
import { attachedLines, attachedTo } from '../../sign/describe.js';
import { action } from '../action.js';
import { err, out } from '../io.js';
import { debugSink, formatOption } from '../options.js';
import { rateLimitLine } from './ls.js';

interface InspectFlags {
  format: 'text' | 'json';
  insecure?: boolean;
  caFile?: string;
  debug?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('inspect')
    .argument('<reference>', 'registry/repository:tag or registry/repository@sha256:…')
    .description(
      'show a manifest: digest, media type, platforms, labels, created, layers and sizes, what is attached',
    );
  formatOption(cmd, ['text', 'json'], 'text');
  cmd
    .option('--insecure', 'plain HTTP (a registry on loopback without TLS)')
    .option('--ca-file <file>', 'trust this PEM CA for the registry, besides the system roots')
    .action(
      action<InspectFlags>(async ([input], flags) => {
        const ref = parseReference(input ?? '');
        const debug = debugSink(flags);
        const session = openRegistry({
          registry: ref.registry,
          ...(flags.insecure ? { insecure: true } : {}),
          ...(flags.caFile ? { caFile: flags.caFile } : {}),
          ...(debug ? { debug } : {}),
        });
        try {
          const summary = await describeImage(
            session.client,
            ref.repository,
            ref.digest ?? ref.tag ?? 'latest',
          );
          const name = formatReference(
            ref.tag === undefined && !ref.digest ? { ...ref, tag: 'latest' } : ref,
          );
          // What is attached is extra: a registry that refuses to say does not fail inspect.
          const attached = await attachedTo(session.client, ref.repository, summary.digest).catch(
            (e: Error) => {
              err(`warning: referrers not read: ${e.message}`);
              return [];
            },
          );
          if (flags.format === 'json') {
            out(JSON.stringify({ reference: name, ...summary, attached }, null, 2));
          } else {
            out([renderText(name, summary), ...attachedLines(attached)].join('\n'));
            if (session.client.rateLimit) err(rateLimitLine(session.client.rateLimit));
          }
          return 0;
        } finally {
          await session.close();
        }
      }),
    );
}

function renderText(name: string, s: ImageSummary): string {
  const lines = [`Reference:  ${name}`, `Digest:     ${s.digest}`, `Media type: ${s.mediaType}`];
  if (s.platforms) {
    lines.push('Platforms:');
    for (const p of s.platforms)
      lines.push(
        `  ${(p.platform ? platformName(p.platform) : 'unknown').padEnd(16)}  ${p.digest}  ${formatBytes(p.totalSize)}`,
      );
    if (s.shownPlatform) lines.push(`Shown:      ${s.shownPlatform}`);
  }
  lines.push(`Platform:   ${s.os}/${s.architecture}`);
  lines.push(`Created:    ${s.created ?? '-'}`);
  const labels = Object.entries(s.labels).sort(([a], [b]) => a.localeCompare(b));
  lines.push(labels.length === 0 ? 'Labels:     -' : 'Labels:');
  for (const [k, v] of labels) lines.push(`  ${k}=${v}`);
  lines.push(`Layers:     ${s.layers.length}`);
  for (const layer of s.layers)
    lines.push(`  ${layer.digest}  ${formatBytes(layer.size).padStart(10)}  ${layer.mediaType}`);
  lines.push(`Total size: ${formatBytes(s.totalSize)} (${s.totalSize} bytes)`);
  return lines.join('\n');
}
