// The desired state as the tree-reading commands (fingerprint, render) need it: selection flags
// applied, external bases resolved through their registries. The registry client is loaded only
// when a tree has an external base to resolve, so offline commands start without it.
import type { RegistryClients } from '../plan/clients.js';
import { computeDesired, type DesiredState, loadTree } from '../plan/desired.js';
import type { TreeFlags } from './options.js';

export async function desiredFromFlags(
  flags: TreeFlags,
  options: { skipTags: boolean },
): Promise<DesiredState> {
  const tree = await loadTree(flags.file);
  let clients: RegistryClients | undefined;
  try {
    return await computeDesired({
      tree,
      ...(flags.only ? { only: flags.only } : {}),
      ...(flags.withDescendants ? { withDescendants: true } : {}),
      resolveBase: async (ref) => {
        clients ??= new (await import('../plan/clients.js')).RegistryClients(tree.config);
        return clients.resolveBase(ref);
      },
      skipTags: options.skipTags,
    });
  } finally {
    await clients?.close();
  }
}
