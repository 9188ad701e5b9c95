// Carrying retention out without deleting what changed since the plan. Per repository:
// 0. a DELETE of a digest nobody has tells whether deletion is on (405: stop, nothing left behind);
//    then deletion markers go up (registry/deletion-guard.ts), the scope's (scope-markers.ts)
//    and the repository's: arbor processes writing tags here check for them and put back what a
//    DELETE took; the repository's comes down SETTLE_MS after its last DELETE, the scope's after
//    every repository's (not on Docker Hub, which deletes tags, never a tag it was not asked to);
// 1. a sweep: list the tags and HEAD every one, so this run knows what each points at;
// 2. then per small batch of deletions, immediately before their DELETEs: list the tags again and
//    HEAD the ones whose digest could matter (recheck.ts: new tags, the batch's tags, the tags of
//    digests that stay), and keep any digest a tag reached since the plan (judge);
// 3. DELETE by digest, sent once: a DELETE that fails goes back in the queue behind a fresh check
//    instead of being re-sent by the transport after a backoff, on a check that old;
// 4. a last listing reports tags that vanished while their digest stayed (moved onto a deleted
//    digest after its check, the window no registry without compare-and-swap closes).
// Every DELETE records its window: from its check's first request to its answer.
//
// The caller (arbor apply) must not call this when any build or push failed: deletion decisions
// assume the images.yaml tags now exist.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pLimit, { type LimitFunction } from 'p-limit';
import { ArborError } from '../errors.js';
import type { PlannedDeletion } from '../plan/model.js';
import type { RegistryClient } from '../registry/client.js';
import {
  type DeletionMarker,
  lowerMarker,
  MARKER_MARGIN_MS,
  MARKER_RENEW_MS,
  raiseMarker,
  SETTLE_MS,
} from '../registry/deletion-guard.js';
import { digestOf } from '../registry/digest.js';
import { isRestartable, RegistryError, unlessNotFound } from '../registry/errors.js';
import { backoffDelay, DEFAULT_BACKOFF, sleep } from '../registry/transport/backoff.js';
import type { DockerHubClient } from './dockerhub.js';
import { isVersionTag } from './observe.js';
import {
  checkIsStale,
  judge,
  type RecheckView,
  type TagBefore,
  tagsToCheck,
  vanishedTags,
} from './recheck.js';
import { ScopeMarkers } from './scope-markers.js';

export type DeletionStatus = 'deleted' | 'already-gone' | 'aborted' | 'skipped';

/** How long the registry went unwatched before a DELETE, in ms (client-side clock). */
export interface DeletionWindow {
  /** From the first request of the re-check (its tag list) to the DELETE's answer: an upper bound. */
  checkStartToAnswer: number;
  /** From the last answer of the re-check to the DELETE leaving arbor. */
  checkEndToSend: number;
}

export interface DeletionResult {
  deletion: PlannedDeletion;
  status: DeletionStatus;
  /** Why it was aborted or skipped; what was removed for a Docker Hub deletion. */
  detail?: string;
  /** Aborted because the registry failed (an error, no answer in time), not because anything changed. */
  failed?: true;
  /** For a DELETE that was sent. */
  window?: DeletionWindow;
}

/** A tag that disappeared while retention ran although the digest it was last seen on remains. */
export interface VanishedTag {
  repository: string;
  tag: string;
  lastSeenOn: string;
}

export interface ApplyRetentionResult {
  results: DeletionResult[];
  /** Sum of bytesFreed of the digests actually deleted (freed once the registry collects garbage). */
  bytesFreed: number;
  vanished: VanishedTag[];
}

export interface ApplyRetentionOptions {
  /** Requests in flight at once per repository (default 8). */
  concurrency?: number;
  /** Repositories worked on at once (default 2). */
  repositoryConcurrency?: number;
  /** Deletions per re-check (default 8). */
  batchSize?: number;
  /** A re-check older than this when its DELETEs would leave is done again (default 2 s). */
  maxCheckAgeMs?: number;
  /** DELETE attempts per deletion, each behind a fresh re-check (default 3). */
  deleteAttempts?: number;
  /** For docker.io: delete through Docker Hub's web API (the registry API refuses deletion). */
  hub?: DockerHubClient;
  /** Called as each deletion settles (progress output). */
  onResult?: (result: DeletionResult) => void;
}

/** Deletion is switched off on the registry: stop at once, nothing else is attempted. */
export class DeletionDisabledError extends ArborError {}

const CHECK_ATTEMPTS = 3;

export async function applyRetention(
  deletions: readonly PlannedDeletion[],
  client: RegistryClient,
  options: ApplyRetentionOptions = {},
): Promise<ApplyRetentionResult> {
  const results: DeletionResult[] = [];
  const vanished: VanishedTag[] = [];
  const run: Run = {
    client,
    options,
    settle: (result) => {
      results.push(result);
      options.onResult?.(result);
    },
    disabled: undefined,
    scopes: new ScopeMarkers(client),
  };
  const repositories = pLimit(options.repositoryConcurrency ?? 2);
  const lowering: Array<Promise<void>> = [];
  await Promise.all(
    [...byRepository(deletions)].map(([repository, group]) =>
      repositories(async () => {
        if (run.disabled) return;
        const done = await new RepositoryRun(run, repository).apply(group);
        vanished.push(...done.vanished);
        lowering.push(done.lowered);
      }),
    ),
  );
  // Markers come down SETTLE_MS after each repository's last DELETE, the scopes' after them all:
  // the run ends after that.
  await Promise.all(lowering);
  await run.scopes.lower();
  if (run.disabled) throw run.disabled;
  const bytesFreed = results
    .filter((r) => r.status === 'deleted' && r.deletion.tag === null)
    .reduce((n, r) => n + r.deletion.bytesFreed, 0);
  return { results, bytesFreed, vanished };
}

interface Run {
  client: RegistryClient;
  options: ApplyRetentionOptions;
  settle(result: DeletionResult): void;
  disabled: DeletionDisabledError | undefined;
  scopes: ScopeMarkers;
}

interface Queued {
  deletion: PlannedDeletion;
  attempt: number;
}

interface Check {
  startedAt: number;
  endedAt: number;
  /** The state before the check of every tag pointing at a batch digest now. */
  before: Map<string, TagBefore>;
}

/** One repository's deletions, with what this run knows of its tags. */
class RepositoryRun {
  private readonly path: string;
  private readonly limit: LimitFunction;
  /** tag → the digest it pointed at when this run last asked. */
  private readonly known = new Map<string, string>();
  /** Digests this run deleted: their tags went with them. */
  private readonly deleted = new Set<string>();
  private readonly vanished: VanishedTag[] = [];
  private aborted = false;
  /** This run's deletion marker here (none on Docker Hub). */
  private marker: DeletionMarker | undefined;
  /** performance.now() of the last DELETE answer; a DELETE without an answer may still land. */
  private lastAnswer = 0;
  private unanswered = false;
  private readonly lowerings: Array<Promise<void>> = [];

  constructor(
    private readonly run: Run,
    private readonly repository: string,
  ) {
    this.path = pathIn(run.client, repository);
    this.limit = pLimit(run.options.concurrency ?? 8);
  }

  async apply(
    group: readonly PlannedDeletion[],
  ): Promise<{ vanished: VanishedTag[]; lowered: Promise<void> }> {
    const tagged = group.filter((d) => d.tag === null && d.tags.length > 0);
    const untagged = group.filter((d) => d.tag === null && d.tags.length === 0);
    const tagOnly = group.filter((d) => d.tag !== null);
    try {
      if (!this.run.options.hub) {
        // A registry with deletion off would keep the marker for good: ask it first, with a
        // DELETE of a digest nobody has (404 where deletion works, 405 where it is off).
        const probe = await this.run.client.deleteManifest(this.path, digestOf(randomBytes(32)));
        if (probe === 'unsupported') {
          this.run.disabled ??= new DeletionDisabledError(disabledMessage(this.run.client, this.repository));
          return { vanished: [], lowered: Promise.resolve() };
        }
        // The scope's marker first: it must be up whenever this repository's is.
        await this.run.scopes.raise(this.path);
        this.marker = await raiseMarker(this.run.client, this.path);
      }
      await this.sweep();
    } catch (e) {
      if (!(e instanceof RegistryError)) throw e;
      for (const d of group)
        this.run.settle({
          deletion: d,
          status: 'aborted',
          detail: `${this.marker || this.run.options.hub ? 're-check' : 'preparing to delete'} failed: ${e.message}`,
          failed: true,
        });
      return { vanished: [], lowered: this.lower() };
    }
    // Tagged digests (indexes among them) first; untagged children only once every tagged
    // deletion of the repository went through, since an aborted index still needs its children.
    await this.drain(tagged, untagged);
    if (this.aborted) {
      for (const d of untagged)
        this.run.settle({
          deletion: d,
          status: 'aborted',
          detail: 'a deletion in this repository was aborted; its index may still need this child',
        });
    } else await this.drain(untagged, []);
    await this.drain(tagOnly, []);
    if (!this.run.disabled) await this.lastLook().catch(() => undefined);
    return { vanished: this.vanished, lowered: this.lower() };
  }

  /**
   * Takes the marker down SETTLE_MS after the last DELETE's answer (writers that listed sooner
   * saw it). After a DELETE that got no answer it stays until it expires: that DELETE may land later.
   */
  private lower(): Promise<void> {
    const marker = this.marker;
    if (marker && !this.unanswered) {
      const wait = this.lastAnswer + SETTLE_MS - performance.now();
      this.lowerings.push(
        sleep(Math.max(0, wait)).then(() => lowerMarker(this.run.client, marker).catch(() => undefined)),
      );
    }
    return Promise.all(this.lowerings).then(() => undefined);
  }

  /** Fresh markers before the current ones near their expiry; the old come down once the new are up. */
  private async renewMarker(): Promise<void> {
    const old = this.marker;
    if (!old) return;
    await this.run.scopes.renew(this.path);
    if (performance.now() - old.raisedAt < MARKER_RENEW_MS) return;
    this.marker = await raiseMarker(this.run.client, this.path);
    this.lowerings.push(lowerMarker(this.run.client, old).catch(() => undefined));
  }

  /** What every tag points at now: the base the batches' checks compare against. */
  private async sweep(): Promise<void> {
    const listed = await this.list();
    await Promise.all(listed.map((tag) => this.head(tag)));
  }

  /** Deletes `items` in batches, each behind its own check; `afterwards` are digests deleted later. */
  private async drain(
    items: readonly PlannedDeletion[],
    afterwards: readonly PlannedDeletion[],
  ): Promise<void> {
    const batchSize = this.run.options.batchSize ?? 8;
    const queue: Queued[] = items.map((deletion) => ({ deletion, attempt: 0 }));
    while (queue.length > 0 && !this.run.disabled) {
      const batch = queue.splice(0, batchSize);
      const retry = Math.max(...batch.map((q) => q.attempt));
      if (retry > 0) await sleep(backoffDelay(retry - 1, DEFAULT_BACKOFF));
      // Digests deleted later; tag-only targets stay, so their tags are checked like kept ones.
      const later = new Set(
        [...queue.map((q) => q.deletion), ...afterwards].filter((d) => d.tag === null).map((d) => d.digest),
      );
      let check: Check;
      try {
        await this.renewMarker();
        check = await this.check(batch, later);
      } catch (e) {
        if (!(e instanceof RegistryError)) throw e;
        for (const q of batch) this.settleAborted(q.deletion, `re-check failed: ${e.message}`, true);
        continue;
      }
      if (checkIsStale(check.startedAt, performance.now(), this.maxCheckAge())) {
        for (const q of batch)
          this.settleAborted(
            q.deletion,
            `the registry answered the re-check too slowly (${Math.round(check.endedAt - check.startedAt)} ms, ${CHECK_ATTEMPTS} attempts) to delete on it`,
            true,
          );
        continue;
      }
      await Promise.all(
        batch.map((q) =>
          this.limit(async () => {
            const again = await this.deleteChecked(q, check);
            if (again) queue.push(again);
          }),
        ),
      );
    }
  }

  /**
   * List the tags, HEAD those whose digest could matter to the batch; again when that took
   * longer than the longest window allowed (a slow registry, retries).
   */
  private async check(batch: readonly Queued[], later: ReadonlySet<string>): Promise<Check> {
    const digests = new Set(batch.map((q) => q.deletion.digest));
    let check: Check | undefined;
    for (let attempt = 0; attempt < CHECK_ATTEMPTS; attempt++) {
      const startedAt = performance.now();
      const listed = await this.list();
      const snapshot = new Map(this.known);
      await Promise.all(
        tagsToCheck({ listed, known: snapshot, batch: digests, later }).map((tag) => this.head(tag)),
      );
      const before = new Map<string, TagBefore>();
      for (const [tag, digest] of this.known) {
        if (!digests.has(digest)) continue;
        const previous = snapshot.get(tag);
        before.set(tag, previous === undefined ? 'new' : { digest: previous });
      }
      check = { startedAt, endedAt: performance.now(), before };
      if (!checkIsStale(startedAt, check.endedAt, this.maxCheckAge())) break;
    }
    return check!;
  }

  /** Judges one deletion on its check, then deletes; returns it when it should be tried again. */
  private async deleteChecked(queued: Queued, check: Check): Promise<Queued | undefined> {
    const { deletion } = queued;
    if (this.run.disabled) return;
    const verdict = judge(deletion, this.viewOf(deletion, check));
    if (verdict.action === 'keep') {
      this.settleAborted(deletion, verdict.reason);
      return;
    }
    const expiresAt = Math.min(
      this.marker?.expiresAt ?? Infinity,
      this.run.scopes.expiresAt(this.path) ?? Infinity,
    );
    if (Date.now() > expiresAt - MARKER_MARGIN_MS) {
      this.settleAborted(deletion, 'the deletion marker is about to expire: not deleting under it');
      return;
    }
    const sentAt = performance.now();
    try {
      const outcome = await this.send(deletion);
      const answeredAt = performance.now();
      this.lastAnswer = Math.max(this.lastAnswer, answeredAt);
      if (outcome === 'disabled') {
        this.run.disabled ??= new DeletionDisabledError(disabledMessage(this.run.client, this.repository));
        return;
      }
      if (outcome.status === 'deleted' || outcome.status === 'already-gone') this.forget(deletion);
      this.run.settle({
        ...outcome,
        ...(outcome.status === 'skipped'
          ? {}
          : {
              window: {
                checkStartToAnswer: round(answeredAt - check.startedAt),
                checkEndToSend: round(sentAt - check.endedAt),
              },
            }),
      });
    } catch (e) {
      if (!(e instanceof RegistryError)) throw e;
      // A status is an answer; a lost connection or timeout leaves the DELETE's fate open.
      if (e.status === undefined) {
        this.unanswered = true;
        this.run.scopes.keep();
      } else this.lastAnswer = Math.max(this.lastAnswer, performance.now());
      const attempts = this.run.options.deleteAttempts ?? 3;
      if (isRestartable(e) && queued.attempt + 1 < attempts) return { deletion, attempt: queued.attempt + 1 };
      this.settleAborted(deletion, e.message, true);
    }
  }

  private viewOf(deletion: PlannedDeletion, check: Check): RecheckView {
    const pointing: RecheckView['pointing'][number][] = [];
    for (const [tag, digest] of this.known)
      if (digest === deletion.digest) pointing.push({ tag, before: check.before.get(tag) ?? 'new' });
    const elsewhere: Array<{ tag: string; digest: string }> = [];
    const gone: string[] = [];
    for (const tag of deletion.tags) {
      const now = this.known.get(tag);
      if (now === undefined) gone.push(tag);
      else if (now !== deletion.digest) elsewhere.push({ tag, digest: now });
    }
    return { pointing, elsewhere, gone };
  }

  private async send(deletion: PlannedDeletion): Promise<DeletionResult | 'disabled'> {
    const { client, options } = this.run;
    const { hub } = options;
    if (deletion.tag !== null) {
      if (hub) {
        await hub.deleteTag(this.path, deletion.tag);
        return { deletion, status: 'deleted' };
      }
      const answer = await client.deleteTag(this.path, deletion.tag, { retry: false });
      if (answer === 'deleted') return { deletion, status: 'deleted' };
      return {
        deletion,
        status: 'skipped',
        detail: `the registry has no OCI 1.1 tag deletion; deleting ${short(deletion.digest)} by digest would also remove ${deletion.tags.filter((t) => t !== deletion.tag).join(', ')}, which stay`,
      };
    }
    if (hub) {
      // Docker Hub deletes tags, not digests; an image without tags is removed by Hub itself,
      // and a tag added meanwhile keeps it: Hub cannot lose a tag arbor did not name.
      if (deletion.tags.length === 0)
        return { deletion, status: 'skipped', detail: 'Docker Hub removes untagged manifests itself' };
      for (const tag of deletion.tags) await hub.deleteTag(this.path, tag);
      return {
        deletion,
        status: 'deleted',
        detail: `tags ${deletion.tags.join(', ')} deleted on Docker Hub`,
      };
    }
    const answer = await client.deleteManifest(this.path, deletion.digest, { retry: false });
    if (answer === 'unsupported') return 'disabled';
    return { deletion, status: answer === 'deleted' ? 'deleted' : 'already-gone' };
  }

  /** After a deletion: what went with it is no longer this run's to watch. */
  private forget(deletion: PlannedDeletion): void {
    if (deletion.tag !== null) {
      this.known.delete(deletion.tag);
      return;
    }
    this.deleted.add(deletion.digest);
    for (const [tag, digest] of this.known) if (digest === deletion.digest) this.known.delete(tag);
  }

  private settleAborted(deletion: PlannedDeletion, detail: string, failed = false): void {
    if (deletion.tag === null && deletion.tags.length > 0) this.aborted = true;
    this.run.settle({ deletion, status: 'aborted', detail, ...(failed ? { failed: true as const } : {}) });
  }

  /** The tag list; a tag this run knew that is no longer listed is noted (vanished) and forgotten. */
  private async list(): Promise<string[]> {
    const listed = (
      await this.limit(() => unlessNotFound(this.run.client.listTags(this.path), [] as string[]))
    ).filter(isVersionTag);
    const names = new Set(listed);
    for (const lost of vanishedTags({ known: this.known, listed: names, deleted: this.deleted })) {
      this.known.delete(lost.tag);
      this.vanished.push({ repository: this.repository, ...lost });
    }
    for (const tag of [...this.known.keys()]) if (!names.has(tag)) this.known.delete(tag);
    return listed;
  }

  private async head(tag: string): Promise<void> {
    const head = await this.limit(() => this.run.client.headManifest(this.path, tag));
    // A tag deleted between the listing and now is simply not there any more.
    if (head) this.known.set(tag, head.digest);
    else this.known.delete(tag);
  }

  /**
   * The closing listing. A tag gone although the digest it was last seen on remains was moved
   * onto a digest deleted after its check, or deleted by someone: reported, never silent. One
   * whose digest is gone too was deleted with it by someone else.
   */
  private async lastLook(): Promise<void> {
    await this.list();
    const candidates = this.vanished.splice(0);
    const remains = new Map<string, Promise<boolean>>();
    const exists = (digest: string) => {
      let answer = remains.get(digest);
      if (!answer) {
        answer = this.limit(() => this.run.client.headManifest(this.path, digest)).then((h) => h !== null);
        remains.set(digest, answer);
      }
      return answer;
    };
    for (const v of candidates) if (await exists(v.lastSeenOn)) this.vanished.push(v);
  }

  private maxCheckAge(): number {
    return this.run.options.maxCheckAgeMs ?? 2000;
  }
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

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

function short(digest: string): string {
  return digest.slice(0, 19);
}
