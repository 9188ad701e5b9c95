// The human tags of an apply, written last and all together (atomic by default): every tag
// follows its image's fingerprint tag as the registry holds it at that moment, so two applies of
// the same tree running at once end with every tag on the digest its fingerprint tag names. After
// the burst the fingerprint tags are read again; one that moved meanwhile (a concurrent apply that
// won the race) has its image's tags written again, a bounded number of times.
import pLimit from 'p-limit';
import type { RegistryClient } from '../registry/client.js';
import { putTagsGuarded } from '../registry/deletion-guard.js';
import { RegistryError } from '../registry/errors.js';
import type { FlipResult, TagWrite } from '../transfer/flip.js';
import type { ManifestBytes } from '../transfer/model.js';

export interface PendingTags {
  name: string;
  repositoryPath: string;
  fingerprintTag: string;
  tags: string[];
  /** What this apply published or found at the fingerprint tag. */
  manifest: ManifestBytes;
}

export interface TagFlipReport extends FlipResult {
  /** Images whose fingerprint tag named another digest than this apply's when the tags were written. */
  followed: string[];
}

const ROUNDS = 3;

export async function flipReleaseTags(
  client: RegistryClient,
  pending: PendingTags[],
  options: { concurrency?: number } = {},
): Promise<TagFlipReport> {
  const limit = pLimit(16);
  const followed = new Set<string>();
  // Before the burst (outside its window): where every fingerprint tag points now.
  let current = await Promise.all(pending.map((p) => limit(() => atFingerprintTag(client, p))));
  for (const [i, p] of pending.entries()) if (current[i]!.digest !== p.manifest.digest) followed.add(p.name);
  let todo = pending.map((p, i) => ({ ...p, manifest: current[i]! }));
  let total: FlipResult | undefined;
  for (let round = 0; round < ROUNDS && todo.length > 0; round++) {
    const writes: TagWrite[] = todo.flatMap((p) =>
      p.tags.map((tag) => ({ repository: p.repositoryPath, tag, manifest: p.manifest })),
    );
    // Guarded: a concurrent `arbor retention` cannot delete one of them (or the fingerprint tag
    // it stands on) unnoticed; it would be put back (registry/deletion-guard.ts).
    const result = await putTagsGuarded(client, writes, {
      ...(options.concurrency ? { concurrency: options.concurrency } : {}),
      keep: todo.map((p) => ({ repository: p.repositoryPath, tag: p.fingerprintTag, manifest: p.manifest })),
    });
    total = total ? { ...total, tags: total.tags + result.tags } : result;
    // After: a fingerprint tag that moved while its tags were written takes them along.
    current = await Promise.all(todo.map((p) => limit(() => atFingerprintTag(client, p))));
    const moved = todo.filter((p, i) => current[i]!.digest !== p.manifest.digest);
    for (const p of moved) followed.add(p.name);
    todo = moved.map((p) => ({ ...p, manifest: current[todo.indexOf(p)]! }));
  }
  if (todo.length > 0)
    throw new RegistryError(
      client.registry,
      `the fingerprint tags of ${todo.map((p) => p.name).join(', ')} kept moving while their tags were written (another apply?); run apply again`,
    );
  return { ...(total ?? { tags: 0, windowMs: 0 }), followed: [...followed] };
}

async function atFingerprintTag(client: RegistryClient, pending: PendingTags): Promise<ManifestBytes> {
  const head = await client.headManifest(pending.repositoryPath, pending.fingerprintTag);
  if (!head)
    throw new RegistryError(
      `${client.registry}/${pending.repositoryPath}:${pending.fingerprintTag}`,
      'the fingerprint tag disappeared before the release tags were written (retention running meanwhile?)',
    );
  if (head.digest === pending.manifest.digest) return pending.manifest;
  const manifest = await client.getManifest(pending.repositoryPath, head.digest);
  return { digest: manifest.digest, mediaType: manifest.mediaType, bytes: manifest.bytes };
}
