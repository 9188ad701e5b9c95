// arbor render: every image's Dockerfile as it will be built. All are rendered before any is
// written, so a template error leaves nothing half-written.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ensureDir } from '../../ensure-dir.js';
import { action } from '../action.js';
import { desiredFromFlags } from '../desired.js';
import { out } from '../io.js';
import { fileOption, selectionOptions, type TreeFlags } from '../options.js';
import { refuseTreeOutput } from '../tree-outputs.js';

interface RenderFlags extends TreeFlags {
  out?: string;
}

export function register(program: Command): void {
  const cmd = program
    .command('render')
    .description('render each Dockerfile (to stdout, or DIR/<image>/Dockerfile)');
  fileOption(cmd);
  selectionOptions(cmd);
  cmd.option('--out <dir>', 'write DIR/<image>/Dockerfile instead of printing').action(
    action<RenderFlags>(async (_args, flags) => {
      const desired = await desiredFromFlags(flags, { skipTags: true });
      const rendered = desired.order.map((name) => ({
        name,
        dockerfile: desired.images.get(name)!.dockerfile,
      }));
      if (!flags.out) {
        out(rendered.map((r) => `# ---- ${r.name} ----\n${r.dockerfile.trimEnd()}\n`).join('\n'));
        return 0;
      }
      for (const r of rendered)
        refuseTreeOutput(desired.config, join(flags.out, r.name, 'Dockerfile'), '--out');
      for (const r of rendered) {
        await ensureDir(join(flags.out, r.name));
        await writeFile(join(flags.out, r.name, 'Dockerfile'), r.dockerfile);
      }
      out(`rendered ${rendered.length} Dockerfiles into ${flags.out}`);
      return 0;
    }),
  );
}
