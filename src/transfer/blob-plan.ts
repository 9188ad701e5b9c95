// Which way a blob reaches a repository of the target registry (regclient's BlobCopy order, and
// go-containerregistry's writer): already there → nothing; another repository of the same
// registry has it → cross-repository mount, no bytes move; else the bytes are uploaded. Pure.

export type BlobStep = { kind: 'skip' } | { kind: 'mount'; from: string } | { kind: 'upload' };

export interface BlobFacts {
  /** HEAD of the blob in the target repository found it. */
  presentInTarget: boolean;
  /** Repositories of the target registry known to hold the blob (this run's uploads, the source's repository when it is the same registry). */
  knownRepositories: readonly string[];
  targetRepository: string;
}

export function chooseBlobStep(facts: BlobFacts): BlobStep {
  if (facts.presentInTarget) return { kind: 'skip' };
  const from = facts.knownRepositories.find((r) => r !== facts.targetRepository);
  return from ? { kind: 'mount', from } : { kind: 'upload' };
}
