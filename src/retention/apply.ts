// Carrying retention out without ever deleting what changed since the plan. Per repository:
// list the tags again, and a tag that appeared since the plan and points at a planned digest
// saves that digest. Per deletion, just before its DELETE: HEAD every tag the plan saw on the
// digest; a tag that moved away (re-tag, new push) aborts it. Then DELETE by digest.
//
// The caller (arbor apply) must not call this when any build or push failed: deletion decisions
// assume the images.yaml tags now exist.
import pLimit, { type LimitFunction } from 'p-limit';
import { ArborError } from '../errors.js';
import type { PlannedDeletion } from '../plan/model.js';
import type { RegistryClient } from '../registry/client.js';
import { RegistryError, unlessNotFound } from '../registry/errors.js';
import type { DockerHubClient } from './dockerhub.js';

export type DeletionStatus = 'deleted' | 'already-gone' | 'aborted' | 'skipped';

export interface DeletionResult {
  deletion: PlannedDeletion;
  status: DeletionStatus;
  /** Why it was aborted or skipped; what was removed for a Docker Hub deletion. */
  detail?: string;
}

export interface ApplyRetentionResult {
  results: DeletionResult[];
  /** Sum of bytesFreed of the digests actually deleted (freed once the registry collects garbage). */
  bytesFreed: number;
}

export interface ApplyRetentionOptions {
  /** Deletions in flight at once (default 8). */
  concurrency?: number;
  /** For docker.io: delete through Docker Hub's web API (the registry API refuses deletion). */
  hub?: DockerHubClient;
  /** Called as each deletion settles (progress output). */
  onResult?: (result: DeletionResult) => void;
}

/** Deletion is switched off on the registry: stop at once, nothing else is attempted. */
export class DeletionDisabledError extends ArborError {}

export async function applyRetention(
  deletions: readonly PlannedDeletion[],
  client: RegistryClient,
  options: ApplyRetentionOptions = {},
): Promise<ApplyRetentionResult> {
  const limit = pLimit(options.concurrency ?? 8);
  const results: DeletionResult[] = [];
  const settle = (result: DeletionResult) => {
    results.push(result);
    options.onResult?.(result);
  };
  let disabled: DeletionDisabledError | undefined;

  for (const [repository, group] of byRepository(deletions)) {
    if (disabled) break;
    const path = pathIn(client, repository);
    const tagsNow = await currentTags(client, path, group, limit);
    const digestStep = group.filter((d) => d.tag === null && d.tags.length > 0);
    const run = async (deletion: PlannedDeletion) => {
      if (disabled) return;
      try {
        const result = await deleteOne(client, path, deletion, tagsNow, options.hub);
        if (result === 'disabled') {
          disabled ??= new DeletionDisabledError(disabledMessage(client, repository));
          return;
        }
        settle(result);
      } catch (e) {
        if (e instanceof RegistryError) settle({ deletion, status: 'aborted', detail: e.message });
        else throw e;
      }
    };
    // Tagged digests (indexes among them) first; untagged children only once every tagged
    // deletion of the repository went through, since an aborted index still needs its children.
    await Promise.all(digestStep.map((d) => limit(() => run(d))));
    const untagged = group.filter((d) => d.tag === null && d.tags.length === 0);
    const blocked = results.some(
      (r) => r.deletion.repository === repository && r.deletion.tag === null && r.status === 'aborted',
    );
    for (const d of untagged) {
      if (blocked)
        settle({
          deletion: d,
          status: 'aborted',
          detail: 'a deletion in this repository was aborted; its index may still need this child',
        });
    }
    if (!blocked) await Promise.all(untagged.map((d) => limit(() => run(d))));
    await Promise.all(group.filter((d) => d.tag !== null).map((d) => limit(() => run(d))));
  }
  if (disabled) throw disabled;
  const bytesFreed = results
    .filter((r) => r.status === 'deleted' && r.deletion.tag === null)
    .reduce((n, r) => n + r.deletion.bytesFreed, 0);
  return { results, bytesFreed };
}

async function deleteOne(
  client: RegistryClient,
  path: string,
  deletion: PlannedDeletion,
  tagsNow: Map<string, string[]>,
  hub: DockerHubClient | undefined,
): Promise<DeletionResult | 'disabled'> {
  const appeared = (tagsNow.get(deletion.digest) ?? []).filter((t) => !deletion.tags.includes(t));
  if (appeared.length > 0)
    return { deletion, status: 'aborted', detail: `tag ${appeared.join(', ')} points at it since the plan` };
  const changed = await movedTags(client, path, deletion);
  if (changed) return { deletion, status: 'aborted', detail: changed };

  if (deletion.tag !== null) {
    if (hub) {
      await hub.deleteTag(path, deletion.tag);
      return { deletion, status: 'deleted' };
    }
    const answer = await client.deleteTag(path, deletion.tag);
    if (answer === 'deleted') return { deletion, status: 'deleted' };
    return {
      deletion,
      status: 'skipped',
      detail: `the registry has no OCI 1.1 tag deletion; deleting ${short(deletion.digest)} by digest would also remove ${deletion.tags.filter((t) => t !== deletion.tag).join(', ')}, which stay`,
    };
  }
  if (hub) {
    // Docker Hub deletes tags, not digests; an image without tags is removed by Hub itself.
    if (deletion.tags.length === 0)
      return { deletion, status: 'skipped', detail: 'Docker Hub removes untagged manifests itself' };
    for (const tag of deletion.tags) await hub.deleteTag(path, tag);
    return { deletion, status: 'deleted', detail: `tags ${deletion.tags.join(', ')} deleted on Docker Hub` };
  }
  const answer = await client.deleteManifest(path, deletion.digest);
  if (answer === 'unsupported') return 'disabled';
  return { deletion, status: answer === 'deleted' ? 'deleted' : 'already-gone' };
}

/**
 * The re-check: every tag the plan saw on the digest must still point at it. For a tag-only
 * deletion, the tag itself must still be there and every other tag too (else the digest could be
 * left untagged).
 */
async function movedTags(
  client: RegistryClient,
  path: string,
  deletion: PlannedDeletion,
): Promise<string | null> {
  for (const tag of deletion.tags) {
    const head = await client.headManifest(path, tag);
    if (!head) {
      if (deletion.tag === null) continue; // already gone: nothing of it to protect
      return `tag ${tag} disappeared since the plan`;
    }
    if (head.digest !== deletion.digest)
      return `tag ${tag} now points at ${short(head.digest)}, not ${short(deletion.digest)}`;
  }
  return null;
}

/**
 * Every tag of the repository now, by the digest it points at (only planned digests). A tag the
 * plan did not see on a digest — pushed since, or moved onto it from a kept or another planned
 * digest — saves that digest.
 */
async function currentTags(
  client: RegistryClient,
  path: string,
  group: readonly PlannedDeletion[],
  limit: LimitFunction,
): Promise<Map<string, string[]>> {
  const planned = new Set(group.map((d) => d.digest));
  const current = await limit(() => unlessNotFound(client.listTags(path), null));
  if (!current) return new Map();
  const byDigest = new Map<string, string[]>();
  await Promise.all(
    current.map((tag) =>
      limit(async () => {
        const head = await client.headManifest(path, tag);
        if (head && planned.has(head.digest))
          byDigest.set(head.digest, [...(byDigest.get(head.digest) ?? []), tag]);
      }),
    ),
  );
  return byDigest;
}

function byRepository(deletions: readonly PlannedDeletion[]): Map<string, PlannedDeletion[]> {
  const groups = new Map<string, PlannedDeletion[]>();
  for (const d of deletions) {
    const list = groups.get(d.repository);
    if (list) list.push(d);
    else groups.set(d.repository, [d]);
  }
  return groups;
}

/** Deletions name repositories in full (`127.0.0.1:5000/ns/x`); the client wants the path. */
export function pathIn(client: RegistryClient, repository: string): string {
  const prefix = `${client.registry}/`;
  if (repository.startsWith(prefix)) return repository.slice(prefix.length);
  if (repository.includes('.') || repository.includes(':')) {
    const host = repository.split('/')[0];
    if (host && (host.includes('.') || host.includes(':')) && host !== client.registry)
      throw new ArborError(`retention: ${repository} is not on registry ${client.registry}`);
  }
  return repository;
}

function disabledMessage(client: RegistryClient, repository: string): string {
  return `${repository}: the registry ${client.registry} refuses deletion (405/400): deletion is disabled there (CNCF distribution: storage.delete.enabled: true). Nothing more was deleted.`;
}

function short(digest: string): string {
  return digest.slice(0, 19);
}
