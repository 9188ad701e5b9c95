// Carries out a push plan in one pass over the file, through the transfer engine:
//  1. the streamed blobs, as they pass: each goes to the repositories that lack it with
//     copyBlob (HEAD → mount → resumable upload, each blob once per run through the ledger);
//     the first upload reads the bytes from the passing stream, a resumed or repeated one reads
//     the blob's range of the file again. Every blob is checked against its digest as it passes,
//     whether it is uploaded or not;
//  2. then every manifest by digest (copyImageTo: children first; the manifests and configs were
//     read into memory with the head), referrers too, listed in the `sha256-<hex>` fallback index
//     where the target has no referrers API;
//  3. then every tag in one burst (flipTags);
//  4. last, for a bundle of a whole release, its record at the target.
// A damaged file, a failed upload or an interruption stops before step 2: no manifest is put, no
// tag moves, and a rerun skips what was uploaded.
import { PassThrough, type Readable } from 'node:stream';
import pLimit from 'p-limit';
import { addToFallbackIndex } from '../registry/attach.js';
import type { RegistryClient } from '../registry/client.js';
import { isRestartable } from '../registry/errors.js';
import { type Descriptor, isIndex } from '../registry/manifest-model.js';
import { backoffDelay, sleep } from '../registry/transport/backoff.js';
import { type BlobSource, bytesBlob, fileRangeBlob } from '../transfer/blob-source.js';
import { copyBlob } from '../transfer/copy-blob.js';
import { copyImageTo } from '../transfer/copy-image.js';
import { type FlipResult, flipTags } from '../transfer/flip.js';
import { BlobLedger } from '../transfer/ledger.js';
import { addOutcome, type CopyTotals, emptyTotals, type ImageToCopy } from '../transfer/model.js';
import type { BundleContent } from './contents.js';
import { BundleFormatError, blobPath } from './format.js';
import { type PushPlan, pushUnits, unitManifests } from './push-plan.js';
import type { OpenBundle, StreamedBlob } from './read.js';
import { type RecordOutcome, recordAtTarget } from './record-at-target.js';

export interface PushRequest {
  bundle: OpenBundle;
  /** The bundle's path (blobs are read again from it to resume an upload). */
  file: string;
  plan: PushPlan;
  target: RegistryClient;
  namespace: string;
  /** Manifests already at the target (`repository@digest`), from the observation the plan used. */
  present: ReadonlySet<string>;
  signal?: AbortSignal;
  onImage?: (name: string, repository: string) => void;
}

export interface PushReport {
  totals: CopyTotals;
  /** Referrers added to a `sha256-<hex>` fallback index (targets without the referrers API). */
  referrersListed: number;
  flip: FlipResult;
  /** The release record written (or found unchanged) at the target, for a bundle of a whole release. */
  record?: RecordOutcome;
}

export async function pushBundle(request: PushRequest): Promise<PushReport> {
  const { bundle, plan, target } = request;
  const content = bundle.head.content;
  const ledger = new BlobLedger();
  for (const [digest, repositories] of plan.holders) for (const r of repositories) ledger.hold(digest, r);
  const totals = emptyTotals();
  // Bytes counted once for the whole push: per-blob counts overlap while uploads run in parallel.
  const bytesBefore = target.bytesUploaded;
  const offsets = new Map<string, number>();
  /** `repository@digest` of blobs step 1 moved (their outcome is counted there). */
  const moved = new Set<string>();
  const copies: Promise<void>[] = [];
  let failure: unknown;
  const track = (work: Promise<void>) =>
    copies.push(
      work.catch((e: unknown) => {
        failure ??= e;
      }),
    );

  // 1. Blobs, as the file streams past.
  try {
    for await (const passing of bundle.blobs()) {
      request.signal?.throwIfAborted();
      offsets.set(passing.blob.digest, passing.offset);
      const repositories = plan.streamed.get(passing.blob.digest) ?? [];
      for (const r of repositories) moved.add(`${r}@${passing.blob.digest}`);
      await streamBlob(passing, repositories, request, ledger, totals, track);
      if (failure) break;
    }
  } finally {
    // Transfers still running finish (or fail) before anything else happens.
    await Promise.all(copies);
  }
  if (failure) throw failure;
  request.signal?.throwIfAborted();

  // 2. Manifests by digest (children and blobs first), then referrers listed.
  const sourceOf = (digest: string): BlobSource => {
    const config = content.configs.get(digest);
    if (config) return bytesBlob(config, `${bundle.head.where} ${blobPath(digest)}`);
    const offset = offsets.get(digest);
    const size = bundle.head.toc.blobs.find((b) => b.digest === digest)?.size;
    if (offset !== undefined && size !== undefined)
      return fileRangeBlob(request.file, offset, size, `${bundle.head.where} ${blobPath(digest)}`);
    return absentBlob(bundle.head.where, digest);
  };
  const limit = pLimit(4);
  let referrersListed = 0;
  await Promise.all(
    pushUnits(content, request.namespace).map((unit) =>
      limit(async () => {
        const manifests = unitManifests(content, unit);
        const there = (digest: string) => request.present.has(`${unit.repository}@${digest}`);
        const referrers = new Set(referrerDigests(content, unit.image.digest));
        const copy = (digest: string) =>
          stepRetried(target, () =>
            copyImageTo(
              target,
              unit.repository,
              toCopy(content, digest, sourceOf, (d) => moved.has(`${unit.repository}@${d}`)),
              ledger,
              totals,
              request.signal ? { signal: request.signal } : {},
            ),
          );
        // The image (its index children with it), then each referrer not there yet.
        const imageMissing = manifests.some((m) => !referrers.has(m.digest) && !there(m.digest));
        if (imageMissing) await copy(unit.image.digest);
        for (const digest of referrers) if (!there(digest)) await copy(digest);
        // Also for referrers already there: a run that stopped before listing them converges.
        const listed =
          referrers.size > 0
            ? await stepRetried(target, () => listReferrers(target, unit.repository, content, [...referrers]))
            : 0;
        referrersListed += listed;
        if (imageMissing || listed > 0) request.onImage?.(unit.image.name, unit.repository);
      }),
    ),
  );
  request.signal?.throwIfAborted();

  // 3. Tags, all together.
  const flip = await flipTags(
    target,
    plan.tagMoves.map((move) => {
      const m = content.manifests.get(move.to)!;
      return {
        repository: move.repository,
        tag: move.tag,
        manifest: { digest: m.digest, mediaType: m.mediaType, bytes: m.bytes },
      };
    }),
  );
  totals.bytesUploaded = target.bytesUploaded - bytesBefore;
  // 4. The release's record, once its tags are there.
  const toc = bundle.head.toc;
  const record = toc.record
    ? await stepRetried(target, () => recordAtTarget(target, request.namespace, toc.record!))
    : undefined;
  return { totals, referrersListed, flip, ...(record ? { record } : {}) };
}

/**
 * One streamed blob: its first repository's transfer starts with a source whose first opening
 * is the passing stream itself; the other repositories follow once it is there (they mount).
 * The stream is read to its end in any case — the digest check needs every byte.
 */
async function streamBlob(
  passing: StreamedBlob,
  repositories: string[],
  request: PushRequest,
  ledger: BlobLedger,
  totals: CopyTotals,
  track: (work: Promise<void>) => void,
): Promise<void> {
  const { blob } = passing;
  const source = new PassingBlob(
    request.file,
    passing.offset,
    blob.size,
    `${request.bundle.head.where} ${blobPath(blob.digest)}`,
  );
  if (repositories.length === 0) {
    await source.feed(passing.stream);
    return;
  }
  const descriptor: Descriptor = {
    mediaType: 'application/octet-stream',
    digest: blob.digest,
    size: blob.size,
  };
  const into = (repository: string) =>
    stepRetried(request.target, () =>
      copyBlob(request.target, repository, { descriptor, source }, ledger),
    ).then((o) => addOutcome(totals, o));
  const [first, ...rest] = repositories as [string, ...string[]];
  const firstDone = into(first);
  track(firstDone.then(() => Promise.all(rest.map(into)).then(() => undefined)));
  // Feed only once the transfer asked for the bytes, or finished without them (mounted, present).
  await Promise.race([source.opened, firstDone.catch(() => undefined)]);
  await source.feed(passing.stream);
}

/**
 * A blob passing in the file: the first `open(0)` gets the live bytes (fed by `feed`); a later
 * open — a resumed upload at the registry's offset, a restarted one, or one after the stream
 * went by — reads the blob's range of the file again.
 */
class PassingBlob implements BlobSource {
  private live: PassThrough | undefined;
  private liveOver = false;
  private markOpened: () => void = () => undefined;
  readonly opened = new Promise<void>((resolve) => {
    this.markOpened = resolve;
  });
  private readonly again: BlobSource;

  constructor(
    file: string,
    offset: number,
    private readonly size: number,
    readonly describe: string,
  ) {
    this.again = fileRangeBlob(file, offset, size, describe);
  }

  open(offset: number): Readable | Promise<Readable> {
    if (offset === 0 && !this.liveOver && !this.live) {
      this.live = new PassThrough({ highWaterMark: 1024 * 1024 });
      // `feed` reports a damaged entry to its own caller, and destroys this stream with the same
      // error for its reader. The reader (the upload's request) may not listen yet, e.g. while
      // its PUT waits for a connection: without this, that error would end the process.
      this.live.on('error', () => undefined);
      this.markOpened();
      return this.live;
    }
    return this.again.open(offset);
  }

  /** Reads the passing stream to its end, writing into the live opening while it is still read. */
  async feed(stream: Readable): Promise<void> {
    if (!this.live) this.liveOver = true;
    const live = this.live;
    const alive = () => live !== undefined && !live.destroyed && !live.writableEnded;
    try {
      for await (const chunk of stream) {
        if (alive() && !live!.write(chunk)) await drainOrClose(live!);
      }
    } catch (e) {
      if (alive()) live!.destroy(e as Error);
      throw e;
    }
    if (alive()) live!.end();
    if (this.size === 0) this.liveOver = true;
  }
}

function drainOrClose(stream: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

/**
 * A step (one blob into one repository, one image's manifests) tried again when it failed on
 * something passing — a 429/503 or a lost connection on a request the client does not retry
 * itself, such as a mount's POST. The ledger forgets a failed transfer and keeps finished ones, so
 * a second try repeats only what did not happen.
 */
async function stepRetried<T>(client: RegistryClient, work: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (e) {
      if (!isRestartable(e) || attempt >= client.context.retries) throw e;
      await sleep(backoffDelay(attempt, client.context.backoff));
    }
  }
}

/** An update bundle's left-out blob: never read from the file; the target must hold it (the plan checked). */
function absentBlob(where: string, digest: string): BlobSource {
  return {
    describe: `${where} (left out: ${digest})`,
    open: () => {
      throw new BundleFormatError(
        `${where}: ${digest} is not in this update bundle and the target does not have it any more`,
      );
    },
  };
}

/** Referrers under an image, at any depth (a signature of an SBOM), parents before their own referrers. */
function referrerDigests(content: BundleContent, digest: string): string[] {
  const out: string[] = [];
  const visit = (d: string) => {
    const m = content.manifests.get(d);
    if (!m) return;
    if (isIndex(m.json)) for (const child of m.json.manifests) visit(child.digest);
    for (const r of content.referrers.get(d) ?? [])
      if (!out.includes(r)) {
        out.push(r);
        visit(r);
      }
  };
  visit(digest);
  return out;
}

/** A manifest with its children and blobs for copyImageTo; `moved` blobs (step 1 took them there) are left out. */
function toCopy(
  content: BundleContent,
  digest: string,
  sourceOf: (digest: string) => BlobSource,
  moved: (digest: string) => boolean,
): ImageToCopy {
  const m = content.manifests.get(digest)!;
  const manifest = { digest, mediaType: m.mediaType, bytes: m.bytes };
  if (isIndex(m.json))
    return {
      manifest,
      blobs: [],
      children: m.json.manifests.map((child) => toCopy(content, child.digest, sourceOf, moved)),
    };
  return {
    manifest,
    blobs: [m.json.config, ...m.json.layers]
      .filter((d) => !moved(d.digest))
      .map((d) => ({ descriptor: d, source: sourceOf(d.digest) })),
    children: [],
  };
}

/**
 * Referrers the target does not list for their subject (no referrers API: distribution 2.8) are
 * added to the subject's `sha256-<hex>` fallback index, as `attachArtifact` does. Returns how many.
 */
async function listReferrers(
  target: RegistryClient,
  repository: string,
  content: BundleContent,
  referrers: string[],
): Promise<number> {
  const bySubject = new Map<string, string[]>();
  for (const digest of referrers) {
    const subject = content.manifests.get(digest)!.json.subject!.digest;
    bySubject.set(subject, [...(bySubject.get(subject) ?? []), digest]);
  }
  let added = 0;
  for (const [subject, digests] of bySubject) {
    const listed = new Set((await target.referrers(repository, subject)).manifests.map((d) => d.digest));
    for (const digest of digests) {
      if (listed.has(digest)) continue;
      const m = content.manifests.get(digest)!;
      const json = m.json;
      const artifactType = isIndex(json) ? undefined : (json.artifactType ?? json.config.mediaType);
      await addToFallbackIndex(target, repository, subject, {
        mediaType: m.mediaType,
        digest,
        size: m.bytes.length,
        ...(artifactType ? { artifactType } : {}),
        ...(json.annotations ? { annotations: json.annotations } : {}),
      });
      added++;
    }
  }
  return added;
}
