// Deleting by digest without losing a tag another arbor process is writing, on a registry with
// no compare-and-swap. Distribution deletes a digest with every tag pointing at it at that
// moment, so a tag written between retention's last look and its DELETE goes with the digest,
// however narrow that window is. Two flags close it between arbor processes:
//
// - retention raises a *deletion marker* in a repository (a tag `arbor-deleting-<expiry>-<nonce>`
//   on a tiny artifact of its own) before it first looks at the repository's tags, and lowers it
//   (deletes the artifact, which takes the tag along) no sooner than SETTLE_MS after its last
//   DELETE there was answered;
// - a writer (putTagsGuarded) puts its tags, then lists the repository's tags. No live marker,
//   and the list was answered less than SETTLE_MS after its first PUT left, or it names every tag
//   the writer wrote (and keeps): safe. Otherwise it waits until no marker is left, then reads
//   its tags back and writes again any that a DELETE took.
//
// Why that suffices: a DELETE can only take a tag written after retention's look, which came
// after the marker went up. If the writer's listing saw no marker although its write came before
// that DELETE, the marker was lowered before the listing, at least SETTLE_MS after the DELETE,
// so more than SETTLE_MS after the write; the writer's listing came sooner. A listing that came
// later is still conclusive when it names every tag: a listing before the marker was lowered
// sees the marker, and one after it comes after the DELETE, which took the tag from the listing
// (a tag written again since by someone else stands, as below). That spares a large burst,
// whose first repositories are listed more than SETTLE_MS after their PUTs on a busy registry,
// a second listing and a HEAD per tag. If it saw a marker, every DELETE of that retention is over
// once the marker is gone, and what it took is put back (the manifest's blobs stay until the
// registry's garbage collector runs, with writes stopped).
//
// A scope marker spares the writer one listing per repository: retention also raises a marker in
// the repository `arbor-deleting` beside the ones it deletes in (`ns/x` → `ns/arbor-deleting`),
// before its first look at any of them, and lowers it only after every one of their markers came
// down. One listing of that repository, sent after a repository's PUTs were answered and answered
// less than SETTLE_MS after the first of them left, with no live marker, is conclusive for it by
// the same argument, since the scope marker is up whenever a repository marker is. Writers share
// that listing: a writer whose PUTs were answered waits, while its answer would still come in
// time, for the burst's other PUTs, and one listing then answers them all, so a burst of 187
// repositories answered within half of SETTLE_MS sends one instead of 187. A repository it does
// not clear (a live scope marker: some retention is at work beside it; a late answer; an error)
// is listed on its own as above.
//
// Markers expire (a killed retention leaves one): a writer ignores a marker past its expiry, and
// retention sends no DELETE within MARKER_MARGIN_MS of its markers' expiry, replacing them
// before that. An arbor older than the scope marker raises none: its retention must not run
// beside this version's writers (docs/retention.md). Writers that do not follow this (docker
// push, skopeo) stay exposed to the window between retention's last look and its DELETE:
// docs/retention.md measures it.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pLimit from 'p-limit';
import { SCOPE_MARKER_REPOSITORY } from './arbor-repositories.js';
import type { RegistryClient } from './client.js';
import { digestOf } from './digest.js';
import { unlessNotFound } from './errors.js';
import { OCI_MANIFEST } from './media-types.js';

export { SCOPE_MARKER_REPOSITORY };
export const MARKER_PREFIX = 'arbor-deleting-';
/** How long after retention's last DELETE its marker stays up, and how fast a writer must list. */
export const SETTLE_MS = 1_000;
/** A marker's life; retention replaces it after MARKER_RENEW_MS. */
export const MARKER_LEASE_MS = 150_000;
export const MARKER_RENEW_MS = 30_000;
/** No DELETE this close to the marker's expiry (clock differences between machines, slow answers). */
export const MARKER_MARGIN_MS = 60_000;
const MARKER_ARTIFACT = 'application/vnd.arbor.deletion-marker.v1';
const EMPTY_MEDIA_TYPE = 'application/vnd.oci.empty.v1+json';
const EMPTY = Buffer.from('{}');
const POLL_MS = 250;

export interface DeletionMarker {
  repository: string;
  tag: string;
  digest: string;
  /** ms since epoch (wall clock: other machines read it). */
  expiresAt: number;
  /** performance.now() when it was up. */
  raisedAt: number;
}

export function isMarkerTag(tag: string): boolean {
  return tag.startsWith(MARKER_PREFIX);
}

/** When a marker tag expires (ms since epoch), or undefined for a tag that is not a well-formed marker. */
export function markerExpiry(tag: string): number | undefined {
  const m = /^arbor-deleting-(\d{10,13})-[0-9a-f]+$/.exec(tag);
  return m ? Number(m[1]) * 1000 : undefined;
}

/** Markers among `tags` that have not expired at `now` (a tag that only looks like one is not a marker). */
export function liveMarkers(tags: readonly string[], now: number): string[] {
  return tags.filter((t) => (markerExpiry(t) ?? 0) > now);
}

/**
 * Whether a writer's listing of a repository, taken after its PUTs there were answered, shows its
 * tags safe from a concurrent retention (see the top of this file): no live marker, and either
 * `timely` (answered less than SETTLE_MS after the first PUT left) or naming every one of `tags`.
 */
export function listingIsConclusive(
  listed: readonly string[],
  tags: readonly string[],
  timely: boolean,
  now: number,
): boolean {
  if (liveMarkers(listed, now).length > 0) return false;
  if (timely) return true;
  const present = new Set(listed);
  return tags.every((t) => present.has(t));
}

/** Where the scope marker covering `repository` lives: `ns/x` → `ns/arbor-deleting`. */
export function scopeMarkerRepository(repository: string): string {
  const slash = repository.lastIndexOf('/');
  return slash < 0 ? SCOPE_MARKER_REPOSITORY : `${repository.slice(0, slash)}/${SCOPE_MARKER_REPOSITORY}`;
}

/** Whether `repository` is itself where scope markers live. */
export function isScopeMarkerRepository(repository: string): boolean {
  return scopeMarkerRepository(repository) === repository;
}

/** A listing of a scope marker repository, with when it left and when it was answered. */
export interface ScopeListing {
  /** undefined when the listing failed (the repository is then listed on its own). */
  tags: readonly string[] | undefined;
  sentAt: number;
  answeredAt: number;
}

/**
 * Whether a scope listing clears a repository whose PUTs (the first of which left at
 * `firstSent`) were answered before the listing left: no live marker, answered in time.
 */
export function scopeListingClears(listing: ScopeListing, firstSent: number, now: number): boolean {
  return (
    listing.tags !== undefined &&
    listing.answeredAt - firstSent < SETTLE_MS &&
    liveMarkers(listing.tags, now).length === 0
  );
}

/**
 * Listings of one scope marker repository shared by every writer of a burst. `after(sendBy)`
 * answers with a listing sent after the call, and no later than `sendBy` (a performance.now()
 * time) unless another is then in flight: callers wait together, and one listing answers them
 * all, sent when the burst has nothing left in flight (`quiet`), when the earliest caller's
 * `sendBy` comes, or once the listing in flight is answered if either came meanwhile. A burst
 * answered within its writers' margin thus sends one listing per scope, not one after another
 * for as long as it lasts (each a request the registry serves while it is busiest).
 */
export class SharedScopeListings {
  private waiting: Array<(listing: ScopeListing) => void> = [];
  /** The earliest `sendBy` of those waiting (kept as they come: a burst has hundreds). */
  private sendBy = Number.POSITIVE_INFINITY;
  private inFlight = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /**
   * The `sendBy` the timer is set for (undefined: no timer): a caller that does not move it leaves
   * the timer as it is.
   */
  private timerFor: number | undefined;
  /** Listings sent. */
  sent = 0;

  constructor(
    private readonly list: () => Promise<readonly string[]>,
    /** Whether the burst has no write left in flight or queued (no caller is then worth waiting for). */
    private readonly quiet: () => boolean = () => true,
  ) {}

  after(sendBy: number): Promise<ScopeListing> {
    return new Promise((answer) => {
      this.waiting.push(answer);
      this.sendBy = Math.min(this.sendBy, sendBy);
      this.schedule();
    });
  }

  /** The burst went quiet: whoever waits is answered by a listing sent now. */
  flush(): void {
    this.schedule();
  }

  private schedule(): void {
    if (this.inFlight || this.waiting.length === 0) return;
    const wait = this.sendBy - performance.now();
    if (wait <= 0 || this.quiet()) {
      this.send();
      return;
    }
    if (this.timerFor === this.sendBy) return;
    clearTimeout(this.timer);
    // Never what keeps the process alive: a caller waits while some write is in flight.
    this.timer = setTimeout(() => this.send(), wait);
    this.timer.unref?.();
    this.timerFor = this.sendBy;
  }

  private send(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerFor = undefined;
    const batch = this.waiting;
    this.waiting = [];
    this.sendBy = Number.POSITIVE_INFINITY;
    const sentAt = performance.now();
    this.sent++;
    this.inFlight = true;
    void this.list()
      .then(
        (tags) => ({ tags, sentAt, answeredAt: performance.now() }),
        () => ({ tags: undefined, sentAt, answeredAt: performance.now() }),
      )
      .then((listing) => {
        this.inFlight = false;
        for (const answer of batch) answer(listing);
        this.schedule();
      });
  }
}

/** Puts up a marker in `repository`: the empty config blob if missing, then the marker artifact. */
export async function raiseMarker(
  client: RegistryClient,
  repository: string,
  now: number = Date.now(),
): Promise<DeletionMarker> {
  const emptyDigest = digestOf(EMPTY);
  if (!(await client.headBlob(repository, emptyDigest)))
    await client.uploadBlob(repository, emptyDigest, EMPTY, EMPTY.length);
  const expiresAt = Math.floor((now + MARKER_LEASE_MS) / 1000) * 1000;
  const nonce = randomBytes(6).toString('hex');
  const tag = `${MARKER_PREFIX}${expiresAt / 1000}-${nonce}`;
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: MARKER_ARTIFACT,
      config: { mediaType: EMPTY_MEDIA_TYPE, digest: emptyDigest, size: EMPTY.length },
      layers: [],
      annotations: {
        'org.arbor.deletion-marker.expires': new Date(expiresAt).toISOString(),
        'org.arbor.deletion-marker.nonce': nonce,
      },
    }),
  );
  const digest = await client.putManifest(repository, tag, bytes, OCI_MANIFEST);
  return { repository, tag, digest, expiresAt, raisedAt: performance.now() };
}

/** Takes a marker down (its artifact, and the tag with it); one already gone is fine. */
export async function lowerMarker(client: RegistryClient, marker: DeletionMarker): Promise<void> {
  await client.deleteManifest(marker.repository, marker.digest);
}

export interface ManifestAt {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

/** One tag to put on a manifest (whose blobs the repository already holds). */
export interface TagPut {
  repository: string;
  tag: string;
  manifest: ManifestAt;
}

export interface GuardedPutOptions {
  /** PUTs (and listings) in flight at once (default 16). */
  concurrency?: number;
  /**
   * Tags already in place that the written ones stand on (fingerprint tags): put back too, after
   * the others, if a DELETE took them with their digest.
   */
  keep?: readonly TagPut[];
  signal?: AbortSignal;
  /** Longest wait for other processes' markers to go (default: until they expire). */
  maxWaitMs?: number;
}

export interface GuardedPut {
  tags: number;
  /** From the first tag PUT sent to the last one answered (the first pass). */
  windowMs: number;
  startedAt?: string;
  endedAt?: string;
  /** `repository:tag` of the tags a concurrent retention deleted and that were put back. */
  rewritten: string[];
  /** Time spent waiting for deletion markers to come down (summed over repositories). */
  waitedMs: number;
  /** Tag listings sent after the PUTs: of scope marker repositories, and of repositories themselves. */
  listings: { scopes: number; repositories: number };
}

/** A GuardedPut before any request: what an empty burst returns, and where a burst starts counting. */
function nothingGuarded(tags: number): GuardedPut {
  return { tags, windowMs: 0, rewritten: [], waitedMs: 0, listings: { scopes: 0, repositories: 0 } };
}

/**
 * Puts every tag (manifest PUTs, in one burst), and returns once no concurrent arbor retention
 * can have deleted any of them: per repository, right after its own PUTs, one tag listing (see
 * the top of this file).
 */
export async function putTagsGuarded(
  client: RegistryClient,
  writes: readonly TagPut[],
  options: GuardedPutOptions = {},
): Promise<GuardedPut> {
  const result = nothingGuarded(writes.length);
  if (writes.length === 0) return result;
  const limit = pLimit(options.concurrency ?? 16);
  const deadline = performance.now() + (options.maxWaitMs ?? MARKER_LEASE_MS + SETTLE_MS);
  const started = performance.now();
  result.startedAt = new Date().toISOString();
  let lastAnswer = started;
  // First-pass PUTs not yet answered: while there are some, a writer whose own are answered can
  // wait a little for its scope listing, which then answers others too.
  let unanswered = writes.length;
  /** Puts one tag; resolves to when its PUT left (after its wait for a free slot) and was answered. */
  const put = (w: TagPut) =>
    limit(async () => {
      options.signal?.throwIfAborted();
      const sent = performance.now();
      await client.putManifest(w.repository, w.tag, w.manifest.bytes, w.manifest.mediaType);
      return { sent, answered: performance.now() };
    });
  const firstPut = async (w: TagPut) => {
    try {
      return await put(w);
    } finally {
      // Once every writer has had its turn to ask (this runs before the last asks), the listings
      // wait for nobody more.
      if (--unanswered === 0)
        setImmediate(() => {
          for (const shared of scopes.values()) shared.flush();
        });
    }
  };

  // Sent beside the PUTs, not behind them in `limit`: a listing queued behind a burst's PUTs
  // would come too late to clear the repositories whose PUTs left first.
  const scopes = new Map<string, SharedScopeListings>();
  const scopeOf = (repository: string) => {
    const at = scopeMarkerRepository(repository);
    let shared = scopes.get(at);
    if (!shared) {
      shared = new SharedScopeListings(
        () => unlessNotFound(client.listTags(at), [] as string[]),
        () => unanswered === 0,
      );
      scopes.set(at, shared);
    }
    return shared;
  };

  const guardRepository = async (repository: string, group: readonly TagPut[]) => {
    const keep = (options.keep ?? []).filter(
      (k) => k.repository === repository && !group.some((w) => w.tag === k.tag),
    );
    let pending: readonly TagPut[] = group;
    for (let first = true; ; first = false) {
      // SETTLE_MS counts from the first PUT that left, not from when it was queued: in a burst
      // of hundreds of tags a PUT may wait for a slot longer than SETTLE_MS, and a write cannot
      // be taken by a DELETE before it was sent (see the top of this file).
      const puts = await Promise.all(pending.map(first ? firstPut : put));
      const firstSent = Math.min(...puts.map((p) => p.sent));
      if (first) {
        lastAnswer = Math.max(lastAnswer, performance.now());
        // The scope listing may wait for others' while it would still be answered in time: half
        // of SETTLE_MS, less where requests take longer (twice this repository's slowest PUT).
        const slowest = Math.max(...puts.map((p) => p.answered - p.sent));
        const sendBy = firstSent + SETTLE_MS - Math.max(SETTLE_MS / 2, 2 * slowest);
        const scope = await scopeOf(repository).after(sendBy);
        if (scopeListingClears(scope, firstSent, Date.now())) return;
      }
      result.listings.repositories++;
      const listed = await limit(() => unlessNotFound(client.listTags(repository), [] as string[]));
      const timely = performance.now() - firstSent < SETTLE_MS;
      const tags = [...group, ...keep].map((w) => w.tag);
      if (listingIsConclusive(listed, tags, timely, Date.now())) return;
      // A retention is deleting here (or this was too slow to tell): once no marker is left, every
      // DELETE it made is over; read the tags back and put again what went.
      const waitStart = performance.now();
      await waitForNoMarker(client, repository, deadline, options.signal);
      result.waitedMs += performance.now() - waitStart;
      const missing: TagPut[] = [];
      for (const w of [...group, ...keep]) {
        // A tag now on another digest was written by someone after us: theirs stands.
        if (!(await limit(() => client.headManifest(repository, w.tag)))) missing.push(w);
      }
      if (missing.length === 0) return;
      result.rewritten.push(...missing.map((w) => `${repository}:${w.tag}`));
      pending = missing;
    }
  };

  const byRepository = new Map<string, TagPut[]>();
  for (const w of writes) byRepository.set(w.repository, [...(byRepository.get(w.repository) ?? []), w]);
  await Promise.all([...byRepository].map(([repository, group]) => guardRepository(repository, group)));
  for (const shared of scopes.values()) result.listings.scopes += shared.sent;
  result.windowMs = Math.round((lastAnswer - started) * 10) / 10;
  result.endedAt = new Date().toISOString();
  return result;
}

/** `tags` added to the manifest `digest` of `repository` (one GET, then putTagsGuarded). */
export async function writeTagsGuarded(
  client: RegistryClient,
  repository: string,
  digest: string,
  tags: readonly string[],
  options: Omit<GuardedPutOptions, 'keep'> & { keep?: readonly string[] } = {},
): Promise<GuardedPut> {
  if (tags.length === 0) return nothingGuarded(0);
  const manifest = await client.getManifest(repository, digest);
  const at = (tag: string): TagPut => ({ repository, tag, manifest });
  return putTagsGuarded(client, tags.map(at), {
    ...options,
    keep: (options.keep ?? []).map(at),
  });
}

async function waitForNoMarker(
  client: RegistryClient,
  repository: string,
  deadline: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  for (;;) {
    const listed = await unlessNotFound(client.listTags(repository), [] as string[]);
    if (liveMarkers(listed, Date.now()).length === 0 || performance.now() > deadline) return;
    signal?.throwIfAborted();
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
