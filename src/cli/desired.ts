// The desired state as the tree-reading commands (fingerprint, render, explain) need it:
// selection flags applied, external bases resolved through their registries.
import { RegistryClients } from '../plan/clients.js';
import { computeDesired, type DesiredState, loadTree } from '../plan/desired.js';
import type { TreeFlags } from './options.js';

export async function desiredFromFlags(
  flags: TreeFlags,
  options: { skipTags: boolean },
): Promise<DesiredState> {
  const tree = await loadTree(flags.file);
  const clients = new RegistryClients(tree.config);
  try {
    return await computeDesired({
      tree,
      ...(flags.only ? { only: flags.only } : {}),
      ...(flags.withDescendants ? { withDescendants: true } : {}),
      resolveBase: (ref) => clients.resolveBase(ref),
      skipTags: options.skipTags,
    });
  } finally {
    await clients.close();
  }
}
