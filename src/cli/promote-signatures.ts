// `require_signature:` of a promotion target: the release's images checked against the tree's
// signing keys. Loaded only when a selected target requires signatures (openpgp and sigstore
// are most of the code a promotion could load).
import type { Config } from '../config/model.js';
import type { RegistryClients } from '../plan/clients.js';
import { parseReference } from '../registry/reference.js';
import type { ReleaseRecord } from '../release/record.js';
import { checkSignatures } from '../sign/verify.js';
import { verifyPolicy } from './sign-targets.js';

export async function signatureProblems(
  config: Config,
  clients: RegistryClients,
  record: ReleaseRecord,
): Promise<string[]> {
  const policy = await verifyPolicy({}, config);
  if (!policy.gpg && !policy.sigstore)
    return ['require_signature: images.yaml has no signing keys to verify with'];
  const diagnostics = await checkSignatures(
    record.images.map((i) => ({
      name: i.name,
      reference: parseReference(`${record.registry}/${i.repository}@${i.digest}`),
    })),
    policy,
    (registry) => clients.for(registry),
  );
  return diagnostics.map((d) => d.message);
}
