// arbor diff R1 R2: per image, the packages added, removed and upgraded between two releases of
// the tree (tags applied to its images), or between two image references, read from their SBOMs
// (verified with the keys of images.yaml or the flags, when there are any).
import type { Command } from 'commander';
import pLimit from 'p-limit';
import { ArborError } from '../../errors.js';
import { parseReference } from '../../registry/reference.js';
import { diffLines, diffPackages, isEmptyDiff } from '../../sign/package-diff.js';
import { treeImagesAtTag } from '../../sign/targets.js';
import { type ImageTarget, sbomPackages, verifyImage } from '../../sign/verify.js';
import { action } from '../action.js';
import { err, out } from '../io.js';
import { debugSink, formatOption } from '../options.js';
import {
  type KeyFlags,
  keyOptions,
  releaseTargets,
  TargetClients,
  treeConfig,
  verifyPolicy,
} from '../sign-targets.js';

interface DiffFlags extends KeyFlags {
  file?: string;
  format: 'text' | 'json';
}

export function register(program: Command): void {
  const cmd = program
    .command('diff')
    .argument(
      '<from>',
      'a release of the tree (its record, else the tag of that name), or an image reference',
    )
    .argument('<to>', 'a later release (tag), or an image reference')
    .description('packages added, removed and upgraded per image between two releases, from their SBOMs');
  cmd.option('-f, --file <path>', 'the image tree (default images.yaml)');
  keyOptions(cmd);
  formatOption(cmd, ['text', 'json'], 'text');
  cmd.action(
    action<DiffFlags>(async ([from, to], flags) => {
      const references = [from!, to!].every((r) => r.includes('/'));
      const config = await treeConfig(flags.file, references ? [from!, to!] : []);
      let pairs: Array<{ name: string; before: ImageTarget; after: ImageTarget }>;
      if (references) {
        const before = parseReference(from!);
        pairs = [
          {
            name: before.repository,
            before: { reference: before },
            after: { reference: parseReference(to!) },
          },
        ];
      } else {
        if (!config)
          throw new ArborError('diff of releases needs the tree: run where images.yaml is, or give -f FILE');
        // A release with a record is compared by its images' digests; otherwise by the tag of that name.
        const side = async (name: string) =>
          (await releaseTargets(config, name).catch(() => null)) ?? treeImagesAtTag(config, name);
        const [before, after] = await Promise.all([side(from!), side(to!)]);
        pairs = before
          .map((b) => ({ name: b.name!, before: b, after: after.find((a) => a.name === b.name) }))
          .filter(
            (p): p is { name: string; before: ImageTarget; after: ImageTarget } => p.after !== undefined,
          );
      }
      // SBOMs are verified with the keys there are; without them (no GnuPG home here) they are
      // still read, and the diff says it is unverified.
      const policy = await verifyPolicy(flags, config).catch((e: Error) => {
        err(`warning: SBOMs not verified: ${e.message}`);
        return { require: [] } as Awaited<ReturnType<typeof verifyPolicy>>;
      });
      policy.require = [];
      const clients = new TargetClients(config, flags, debugSink(flags));
      try {
        const limit = pLimit(16);
        const read = (target: ImageTarget) =>
          limit(async () => {
            const v = await verifyImage(clients.for(target.reference.registry), target, policy);
            if (!v.digest) return { missing: 'not in the registry' } as const;
            const packages = sbomPackages(v);
            return packages ? { packages, digest: v.digest } : ({ missing: 'no readable SBOM' } as const);
          });
        const rows = await Promise.all(
          pairs.map(async (pair) => ({ ...pair, old: await read(pair.before), now: await read(pair.after) })),
        );
        let problems = 0;
        const json = [];
        for (const row of rows) {
          if ('missing' in row.old || 'missing' in row.now) {
            problems++;
            const which =
              'missing' in row.old
                ? `${from}: ${row.old.missing}`
                : `${to}: ${(row.now as { missing: string }).missing}`;
            err(`warning: image ${row.name}: ${which}`);
            continue;
          }
          if (row.old.digest === row.now.digest && flags.format === 'text') continue;
          const diff = diffPackages(row.old.packages, row.now.packages);
          json.push({ image: row.name, from: row.old.digest, to: row.now.digest, ...diff });
          if (flags.format === 'json') continue;
          if (isEmptyDiff(diff)) out(`${row.name}: rebuilt, same packages`);
          else out([`${row.name}:`, ...diffLines(diff).map((l) => `  ${l}`)].join('\n'));
        }
        if (flags.format === 'json') out(JSON.stringify(json, null, 2));
        else
          out(
            `Diff: ${json.length} image(s) changed between ${from} and ${to}${problems ? `, ${problems} without SBOMs to compare` : ''}.`,
          );
        return 0;
      } finally {
        await clients.close();
      }
    }),
  );
}
