// arbor explain IMAGE: every input of the image's fingerprint with its hash, and which ones
// differ from the image the registry holds (read from its inputs label).
import type { Command } from 'commander';
import { ArborError } from '../../errors.js';
import { explainLines } from '../../fingerprint/explain.js';
import { RegistryClients } from '../../plan/clients.js';
import { computeDesired, loadTree } from '../../plan/desired.js';
import { observe } from '../../plan/observe.js';
import { attachedLines, attachedTo } from '../../sign/describe.js';
import { action } from '../action.js';
import { err, out } from '../io.js';
import { fileOption, type TreeFlags } from '../options.js';

interface ExplainFlags extends TreeFlags {
  offline?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('explain')
    .argument('<image>', 'an image of the tree')
    .description("list every input of an image's fingerprint, and which differ from the registry's image");
  fileOption(cmd);
  cmd.option('--offline', 'do not compare with the registry').action(
    action<ExplainFlags>(async ([name], flags) => {
      const tree = await loadTree(flags.file);
      const clients = new RegistryClients(tree.config);
      try {
        const desired = await computeDesired({
          tree,
          only: [name!],
          resolveBase: (ref) => clients.resolveBase(ref),
        });
        const image = desired.images.get(name!);
        if (!image) throw new ArborError(`image ${name}: not in ${flags.file}`);
        out(`${image.name}  ${image.fingerprint}  (${image.repository}:${image.fingerprintTag})`);
        let previous: Map<string, string> | null = null;
        if (!flags.offline) {
          try {
            const seen = (await observe({ ...desired, order: [image.name] }, clients.home)).images.get(
              image.name,
            )!;
            if (seen.fingerprintDigest) {
              out(`in the registry as ${image.fingerprintTag}: every input matches`);
              const attached = await attachedTo(clients.home, image.repositoryPath, seen.fingerprintDigest);
              out(attachedLines(attached).join('\n'));
            } else if (seen.previous) {
              out(`not in the registry; compared with ${image.repository}:${seen.previous.tag}`);
              previous = seen.previous.inputs;
            } else out('not in the registry, and none of its tags exists yet');
          } catch (e) {
            err(`warning: registry not compared: ${(e as Error).message}`);
          }
        }
        out(explainLines(image, previous).join('\n'));
        return 0;
      } finally {
        await clients.close();
      }
    }),
  );
}
