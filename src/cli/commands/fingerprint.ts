// arbor fingerprint: every image's Merkle fingerprint, without asking the registry
// (except to resolve external `from` references to digests).
import type { Command } from 'commander';
import { action } from '../action.js';
import { desiredFromFlags } from '../desired.js';
import { out } from '../io.js';
import { fileOption, formatOption, selectionOptions, type TreeFlags } from '../options.js';

interface FingerprintFlags extends TreeFlags {
  format: 'text' | 'json';
}

export function register(program: Command): void {
  const cmd = program
    .command('fingerprint')
    .description("print every image's content fingerprint (no registry needed)");
  fileOption(cmd);
  selectionOptions(cmd);
  formatOption(cmd, ['text', 'json'], 'text');
  cmd.action(
    action<FingerprintFlags>(async (_args, flags) => {
      const desired = await desiredFromFlags(flags, { skipTags: true });
      const images = desired.order.map((name) => {
        const image = desired.images.get(name)!;
        return { name, fingerprint: image.fingerprint, tag: image.fingerprintTag };
      });
      if (flags.format === 'json') out(JSON.stringify({ images }, null, 2));
      else {
        const width = Math.max(...images.map((i) => i.name.length));
        out(images.map((i) => `${i.name.padEnd(width)}  ${i.tag}  ${i.fingerprint}`).join('\n'));
      }
      return 0;
    }),
  );
}
