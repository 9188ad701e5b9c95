// arbor unpack: images out of the registry into flattened, file-deduplicated directory trees
// (CVMFS / DUCC style). What to unpack: references on the command line, a DUCC recipe, or the
// tree's images (default). Everything else lives in src/unpack/.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { displayPath } from '../../display-path.js';
import { ArborError, formatDiagnostic } from '../../errors.js';
import { formatBytes } from '../../plan/views/markdown.js';
import { parseRecipe } from '../../unpack/recipe.js';
import { recipeTargets, referenceTargets, treeTargets, type UnpackTarget } from '../../unpack/targets.js';
import { type ImageResult, type UnpackReport, unpackImages } from '../../unpack/unpack.js';
import { action } from '../action.js';
import { err, out } from '../io.js';
import { debugSink, fileOption, formatOption, parsePlatform, tagValue } from '../options.js';
import { RegistrySessions } from '../registry-sessions.js';

interface UnpackFlags {
  file: string;
  out: string;
  only?: string[];
  tag?: string;
  release?: string;
  recipe?: string;
  platform?: string;
  overlayWhiteouts?: boolean;
  concurrency: string;
  insecure?: boolean;
  caFile?: string;
  format: 'text' | 'json';
  debug?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('unpack')
    .argument(
      '[reference...]',
      'images to unpack (registry/repository[:tag][@digest]); default: the tree’s images',
    )
    .description(
      'flattened, file-deduplicated root file systems of images (CVMFS / DUCC layout) under --out',
    );
  fileOption(cmd);
  formatOption(cmd, ['text', 'json'], 'text');
  cmd
    .requiredOption(
      '--out <dir>',
      'output directory (OUT/<registry>/<repository>:<tag> is each image’s tree)',
    )
    .option('--only <image...>', 'only these images of the tree')
    .option(
      '--tag <tag>',
      'every image of the tree at this tag (default: each image’s first tag)',
      tagValue('--tag'),
    )
    .option(
      '--release <name>',
      'every image of this release record of the tree, pinned by digest',
      tagValue('--release'),
    )
    .option('--recipe <file>', 'the images of a DUCC recipe (version 1) instead of the tree')
    .option('--platform <os/arch>', 'from a multi-platform index, this platform (default: this machine’s)')
    .option(
      '--overlay-whiteouts',
      'layer directories (.layers) with overlayfs whiteouts instead of .wh. files',
    )
    .option('--concurrency <n>', 'layers downloaded and applied at once', '4')
    .option('--insecure', 'plain HTTP for the references given on the command line')
    .option('--ca-file <file>', 'trust this PEM CA for registries named on the command line or in the recipe')
    .action(
      action<UnpackFlags>(async (refs, flags) => {
        const concurrency = Number(flags.concurrency);
        if (!Number.isInteger(concurrency) || concurrency < 1)
          throw new ArborError(`--concurrency must be a positive integer, not "${flags.concurrency}"`);
        const platform = flags.platform ? parsePlatform(flags.platform) : undefined;
        const targets = await targetsFrom(refs, flags);
        const sessions = new RegistrySessions(debugSink(flags));
        try {
          const report = await unpackImages({
            out: flags.out,
            targets,
            ...(platform ? { platform } : {}),
            overlayWhiteouts: flags.overlayWhiteouts ?? false,
            concurrency,
            clientFor: (target) => sessions.client(target),
            warn: (message) => err(`warning: ${message}`),
            ...(flags.format === 'text' ? { onImage: (r: ImageResult) => out(imageLine(r)) } : {}),
          });
          if (flags.format === 'json') out(JSON.stringify({ formatVersion: 1, ...report }, null, 2));
          else out(summary(report));
          const failed = report.images.filter((i) => i.status === 'failed');
          for (const image of failed) err(`error: ${image.reference}: ${image.error}`);
          return failed.length > 0 ? 1 : 0;
        } finally {
          await sessions.close();
        }
      }),
    );
}

async function targetsFrom(refs: string[], flags: UnpackFlags): Promise<UnpackTarget[]> {
  const treeFlags = [
    flags.only ? '--only' : '',
    flags.tag !== undefined ? '--tag' : '',
    flags.release !== undefined ? '--release' : '',
  ].filter(Boolean);
  if (flags.tag !== undefined && flags.release !== undefined)
    throw new ArborError('--tag and --release are exclusive: name one');
  if (flags.recipe && refs.length > 0) throw new ArborError('give image references or --recipe, not both');
  if ((flags.recipe || refs.length > 0) && treeFlags.length > 0)
    throw new ArborError(
      `${treeFlags.join(' and ')} select images of the tree; they do not apply to ${flags.recipe ? '--recipe' : 'references'}`,
    );
  if (flags.recipe) {
    let text: string;
    try {
      text = await readFile(flags.recipe, 'utf8');
    } catch (e) {
      throw new ArborError(`cannot read recipe ${flags.recipe} (${(e as NodeJS.ErrnoException).code})`);
    }
    const recipe = parseRecipe(text, displayPath(flags.recipe));
    for (const w of recipe.warnings) err(formatDiagnostic(w));
    return recipeTargets(recipe, flags.caFile ? { caFile: flags.caFile } : {});
  }
  if (refs.length > 0)
    return referenceTargets(refs, {
      ...(flags.insecure ? { insecure: true } : {}),
      ...(flags.caFile ? { caFile: flags.caFile } : {}),
    });
  return treeTargets({
    file: flags.file,
    ...(flags.only ? { only: flags.only } : {}),
    ...(flags.tag !== undefined ? { tag: flags.tag } : {}),
    ...(flags.release !== undefined ? { release: flags.release } : {}),
  });
}

function imageLine(r: ImageResult): string {
  const status = r.status.padEnd(9);
  if (r.status === 'failed') return `${status} ${r.reference}`;
  const chains = r.chainsBuilt > 0 ? `  (${r.chainsBuilt} chain${r.chainsBuilt === 1 ? '' : 's'} built)` : '';
  return `${status} ${r.reference} → ${r.flat}${chains}`;
}

function summary(r: UnpackReport): string {
  const count = (s: ImageResult['status']) => r.images.filter((i) => i.status === s).length;
  return [
    `Unpack: ${r.images.length} images (${count('unpacked')} unpacked, ${count('unchanged')} unchanged, ${count('failed')} failed), ` +
      `${r.chainsBuilt} chains built, ${r.layersDownloaded} layers downloaded (${formatBytes(r.bytesDownloaded)}), ` +
      `${r.store.filesAdded} files stored (${formatBytes(r.store.bytesAdded)} new), ${r.store.filesReused} reused.`,
    `Output: ${displayPath(r.out)}`,
  ].join('\n');
}
