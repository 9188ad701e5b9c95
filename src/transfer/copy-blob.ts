// Moves one blob into a repository of the target registry: HEAD (unless the run asked already),
// then mount from a repository known to hold it, then upload from its source. Each
// (repository, blob) once per run (the ledger).
import type { RegistryClient } from '../registry/client.js';
import { chooseBlobStep } from './blob-plan.js';
import type { BlobLedger } from './ledger.js';
import type { BlobOutcome, BlobToCopy } from './model.js';

export async function copyBlob(
  target: RegistryClient,
  repository: string,
  blob: BlobToCopy,
  ledger: BlobLedger,
): Promise<BlobOutcome> {
  const { digest, size } = blob.descriptor;
  const source = blob.source.registry;
  if (source && source.client.registry === target.registry) ledger.hold(digest, source.repository);
  return ledger.once(repository, digest, async () => {
    const present =
      ledger.presence(repository, digest) ?? (await target.headBlob(repository, digest)) !== null;
    const step = chooseBlobStep({
      presentInTarget: present,
      knownRepositories: ledger.holdersOf(digest),
      targetRepository: repository,
    });
    if (step.kind === 'skip') return { how: 'present' };
    let session: string | undefined;
    if (step.kind === 'mount') {
      const mounted = await target.mountBlob(repository, digest, step.from);
      if (mounted.mounted) return { how: 'mounted', from: step.from };
      session = mounted.session;
    }
    const bytes = await target.uploadBlob(repository, digest, blob.source, size, session ? { session } : {});
    return { how: 'uploaded', bytes };
  });
}
