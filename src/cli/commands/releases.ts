// arbor releases: the release records of the tree's registry (newest first), with the promotion
// targets of images.yaml each release has reached: the record its promotion writes is there (one
// HEAD per target: Docker Hub's pull budget does not count it). A target holding another record
// under the same name (the release was recorded again since, with other images) is said apart.
import type { Command } from 'commander';
import pLimit from 'p-limit';
import { RegistryClients } from '../../plan/clients.js';
import { loadTree } from '../../plan/desired.js';
import { recordAtTarget } from '../../promote/plan.js';
import { digestOf } from '../../registry/digest.js';
import { listReleaseManifests, recordManifest, recordOf, releasesRepository } from '../../release/store.js';
import { action } from '../action.js';
import { err, out } from '../io.js';
import { debugSink, fileOption, formatOption } from '../options.js';

/**
 * How long `releases` waits for a promotion target that does not answer: 1 retry (≈ 0.1 s of
 * backoff), 3 s for each answer, and, for one that went away mid-listing, 3 s (unless
 * ARBOR_REGISTRY_OUTAGE_SECONDS says). A target found unreachable is asked nothing more.
 */
const TARGET_RETRIES = 1;
/** A target that takes connections but does not answer (stopped, overloaded) is not waited on longer. */
const TARGET_TIMEOUT_MS = 3_000;
const TARGET_OUTAGE_MS = 3_000;

interface ReleasesFlags {
  file: string;
  format: 'text' | 'json';
  debug?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('releases')
    .description('list the release records of the tree, and where each one was promoted');
  fileOption(cmd);
  formatOption(cmd, ['text', 'json'], 'text');
  cmd.action(
    action<ReleasesFlags>(async (_args, flags) => {
      const { config } = await loadTree(flags.file);
      const debug = debugSink(flags);
      const clients = new RegistryClients(config, debug ? { debug } : {});
      // Where each release was promoted is a side note of the listing: a target that is down
      // costs it a second or two and a "?", not the retries and outage budget a transfer spends
      // waiting for it (≈ 20 s).
      const targetClients = new RegistryClients(config, {
        ...(debug ? { debug } : {}),
        retries: TARGET_RETRIES,
        timeoutMs: TARGET_TIMEOUT_MS,
        ...(process.env.ARBOR_REGISTRY_OUTAGE_SECONDS ? {} : { outageBudgetMs: TARGET_OUTAGE_MS }),
      });
      try {
        const repository = releasesRepository(config.registry.namespace, config.releases.repository);
        const releases = await listReleaseManifests(clients.home, repository);
        const limit = pLimit(8);
        const unreachable = new Map<string, string>();
        // Each target's first question is asked alone: the rest wait for its answer, so a target
        // that takes connections and never answers costs one timeout, not one per release queued
        // behind each other on its connections.
        const firstAnswer = new Map<string, Promise<void>>();
        const once = async <T>(target: string, ask: () => Promise<T>): Promise<T> => {
          const first = firstAnswer.get(target);
          if (first) {
            await first;
            return ask();
          }
          const asked = ask();
          firstAnswer.set(
            target,
            asked.then(
              () => undefined,
              () => undefined,
            ),
          );
          return asked;
        };
        const rows = await Promise.all(
          releases.map(async ({ summary: r, manifest }) => {
            // The record itself is read from the tree's registry only for a release some target has
            // (its manifest is at hand: one blob GET).
            let stored: ReturnType<typeof recordOf> | undefined;
            const there = await Promise.all(
              config.promote.map((target) =>
                once(target.name, () =>
                  limit(async () => {
                    // A target found unreachable for one release is not asked again for the others.
                    if (unreachable.has(target.name))
                      return { target: target.name, holds: 'unknown' as const };
                    // null: the target answered that it has no such record; undefined: it could
                    // not be asked, which is unknown, not "not promoted" (said once per target).
                    const head = await targetClients
                      .forRegistry(target.registry)
                      .headManifest(
                        releasesRepository(target.registry.namespace, config.releases.repository),
                        r.release,
                      )
                      .catch((e: unknown) => {
                        unreachable.set(
                          target.name,
                          `${target.registry.url}: ${(e as Error).message.split('\n')[0]}`,
                        );
                        return undefined;
                      });
                    if (head === undefined) return { target: target.name, holds: 'unknown' as const };
                    if (!head) return { target: target.name, holds: 'none' as const };
                    stored ??= recordOf(clients.home, repository, r.release, manifest);
                    const { record } = await stored;
                    const expected = digestOf(recordManifest(recordAtTarget(record, target)).bytes);
                    return { target: target.name, holds: head.digest === expected ? 'this' : 'other' };
                  }),
                ),
              ),
            );
            const at = (holds: string) => there.filter((t) => t.holds === holds).map((t) => t.target);
            const unknown = at('unknown');
            return {
              ...r,
              promoted: at('this'),
              otherRecordAt: at('other'),
              ...(unknown.length ? { unknownAt: unknown } : {}),
            };
          }),
        );
        for (const [target, why] of unreachable)
          err(
            `warning: target ${target} could not be read (${why}); whether it holds each release is unknown ("?").`,
          );
        if (flags.format === 'json') {
          out(
            JSON.stringify({ repository: `${config.registry.url}/${repository}`, releases: rows }, null, 2),
          );
          return 0;
        }
        if (rows.length === 0) {
          out(`No release recorded in ${config.registry.url}/${repository} yet.`);
          return 0;
        }
        const table = [
          ['release', 'created', 'images', 'promoted to'],
          ...rows.map((r) => [
            r.release,
            r.created,
            String(r.images),
            [
              ...r.promoted,
              ...r.otherRecordAt.map((t) => `${t} (another ${r.release})`),
              ...(r.unknownAt ?? []).map((t) => `${t} (?)`),
            ].join(', ') || '-',
          ]),
        ];
        const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
        out(
          table
            .map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  '))
            .join('\n'),
        );
        return 0;
      } finally {
        await Promise.all([clients.close(), targetClients.close()]);
      }
    }),
  );
}
