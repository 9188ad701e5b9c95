// apply: carry out exactly a plan. Builds run on the DAG scheduler (parents first, critical
// path first, failures isolated to their subtree). arbor publishes every built image itself
// (publish.ts: the builder exports it, arbor compresses and uploads it) under its fingerprint tag
// only; the human tags of the whole apply are written at the end, all together, and only if
// every image succeeded (atomic, the default; `atomic: false` writes each image's tags as soon as
// it is published). A fingerprint tag that appears while an image builds (another apply of the
// same tree) is taken as it is: that image is not pushed again. Tag-only images get their tags in
// the same final burst: no build, no blob upload. An image with a `content_fingerprint` is
// measured after its build and stamped with it (content-fingerprint.ts); `--refresh` rebuilds
// such images without the cache and pushes only those whose content really changed.

import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { RegistryClients } from '../plan/clients.js';
import type { DesiredImage, DesiredState } from '../plan/desired.js';
import type { Plan, PlannedImage } from '../plan/model.js';
import { parseReference } from '../registry/reference.js';
import { headOrUnreadable, UNREADABLE } from '../registry/unreadable.js';
import type { GitInfo } from '../render/git.js';
import { extraBuildArgs } from '../render/render.js';
import { BlobLedger } from '../transfer/ledger.js';
import { type CopyTotals, emptyTotals, type ManifestBytes } from '../transfer/model.js';
import { BuildError, type Builder, type BuildRequest } from './builders/index.js';
import { measureContent, registryContentFingerprint, stampRequest } from './content-fingerprint.js';
import { KnownLayers } from './known-layers.js';
import { baseAnnotations, imageLabels } from './labels.js';
import { logFileFor } from './logs.js';
import { publishImage } from './publish.js';
import { runDag, type SchedulerEvent, type Task, type TaskOutcome } from './scheduler.js';
import { flipReleaseTags, type PendingTags, type TagFlipReport } from './tag-flip.js';

export type ImageStatus =
  | 'built'
  | 'tagged'
  | 'unchanged'
  /** `apply --refresh`: rebuilt, its content fingerprint differed, pushed under all its tags. */
  | 'refreshed'
  /** `apply --refresh`: rebuilt, same content fingerprint as the registry's: not pushed. */
  | 'unchanged-content'
  /** Its fingerprint tag appeared while this apply was at it (another apply built it): taken as it is. */
  | 'adopted'
  | 'failed'
  | 'skipped'
  | 'cancelled';

export interface ImageOutcome {
  name: string;
  action: PlannedImage['action'];
  status: ImageStatus;
  /** Digest now at the image's tags. */
  digest?: string;
  /** Blob bytes uploaded for this image (counted as the registry accepted them). */
  bytesUploaded: number | null;
  tagsAdded: string[];
  ms: number;
  /** Failure summary (one line), skip or cancel reason. */
  detail?: string;
  logFile?: string;
  /** Added for content fingerprints: `sha256:…` of the image's `content_fingerprint.command` output, when it ran. */
  contentFingerprint?: string;
}

export type ApplyEvent =
  | SchedulerEvent
  | { type: 'step'; name: string; step: 'build' | 'export' | 'push' | 'tag' | 'run'; detail?: string }
  /** The scheduler's `done`, labelled with what was done (`built`, `content unchanged, not pushed`, …). */
  | { type: 'done'; name: string; ms: number; label: string };

export interface ApplyRequest {
  plan: Plan;
  desired: DesiredState;
  clients: RegistryClients;
  builder: Builder;
  concurrency: number;
  logDir: string;
  git: GitInfo;
  signal?: AbortSignal;
  onEvent?: (event: ApplyEvent) => void;
  now?: () => Date;
  /**
   * `apply --refresh`: also rebuild images whose inputs are unchanged but that declare a
   * `content_fingerprint`, and push only those whose content fingerprint differs from the
   * registry's (teams rebuild daily for distro fixes; most rebuilds change nothing). Images
   * without a `content_fingerprint` are not rebuilt: nothing would tell a real change from new
   * timestamps, so every refresh would push them all.
   */
  refresh?: boolean;
  /**
   * Human tags all together at the end, only if everything succeeded (default true). False
   * writes each image's tags as soon as it is published (partial progress survives a failure).
   */
  atomic?: boolean;
}

export interface ApplyReport {
  outcomes: ImageOutcome[];
  /** The final burst of human tags; null when none was written (nothing to tag, or a failure). */
  flip: TagFlipReport | null;
  /** Human tags not written because something failed (atomic mode). */
  tagsHeldBack: number;
  /** Set when the registry went away and the apply stopped launching work. */
  registryProblem?: string;
  /** Every image this apply published or tagged, with the manifest now at its tags. */
  published: PublishedImage[];
  /** Blob digests of the layers this apply compressed (deterministically) and uploaded. */
  compressedLayers: string[];
}

export interface PublishedImage {
  name: string;
  repositoryPath: string;
  digest: string;
  tags: string[];
  fingerprintTag: string;
}

type DoneStatus = 'built' | 'tagged' | 'refreshed' | 'unchanged-content' | 'adopted';

interface Done {
  status: DoneStatus;
  digest: string;
  bytesUploaded: number | null;
  tagsAdded: string[];
  contentFingerprint?: string;
  detail?: string;
}

const DONE_LABELS: Record<DoneStatus, string> = {
  built: 'built',
  tagged: 'tagged',
  refreshed: 'refreshed',
  'unchanged-content': 'content unchanged, not pushed',
  adopted: 'taken from another apply',
};

/** Images `--refresh` rebuilds: unchanged inputs (`none`, `tag`) and a content fingerprint to compare. */
export function refreshedImages(plan: Plan, desired: DesiredState): Set<string> {
  return new Set(
    plan.images
      .filter((i) => i.action !== 'build' && desired.images.get(i.name)?.config.contentFingerprint)
      .map((i) => i.name),
  );
}

/** Images apply works on, in plan order: every action but `none`, plus what `--refresh` rebuilds. */
export function appliedImages(plan: Plan, desired: DesiredState, refresh: boolean): string[] {
  const refreshing = refresh ? refreshedImages(plan, desired) : new Set<string>();
  return plan.images.filter((i) => i.action !== 'none' || refreshing.has(i.name)).map((i) => i.name);
}

export async function applyPlan(request: ApplyRequest): Promise<ApplyReport> {
  const workDir = await mkdtemp(join(tmpdir(), 'arbor-apply-'));
  try {
    return await applyIn(request, workDir);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

async function applyIn(request: ApplyRequest, workDir: string): Promise<ApplyReport> {
  const { plan, desired, clients, builder } = request;
  const atomic = request.atomic ?? true;
  const planned = new Map(plan.images.map((i) => [i.name, i]));
  const refreshing = request.refresh ? refreshedImages(plan, desired) : new Set<string>();
  const work = plan.images.filter((i) => i.action !== 'none' || refreshing.has(i.name));
  // Images built in this apply, by plan or by refresh: their children build FROM the new local image.
  const building = new Set(
    work.filter((i) => i.action === 'build' || refreshing.has(i.name)).map((i) => i.name),
  );
  // Only a parent that is built in this apply is a dependency; a tag-only image depends on nothing.
  const tasks: Task[] = work.map((i) => ({
    name: i.name,
    parent: building.has(i.name) && i.parent && building.has(i.parent) ? i.parent : null,
    weight: building.has(i.name) ? 10 : 1,
  }));
  const doneLabels = new Map<string, string>();
  /** Images whose build is done but whose publication runs on (their `done` comes after it). */
  const publishing = new Map<string, Promise<Done>>();
  const emit = (e: ApplyEvent) => {
    // The scheduler's `done` of an image still being published is said when the publication ends.
    if (e.type === 'done' && publishing.has(e.name) && !doneLabels.has(e.name)) return;
    // The scheduler only knows a task finished; say what it did.
    const label = e.type === 'done' ? doneLabels.get(e.name) : undefined;
    request.onEvent?.(label && e.type === 'done' ? { ...e, label } : e);
  };
  const home = clients.home;
  const known = new KnownLayers(workDir);
  const ledger = new BlobLedger();
  const pending: PendingTags[] = [];
  const flips: TagFlipReport[] = [];
  /** Parents already in a registry whose layers `known` has learnt (once per reference). */
  const learnt = new Map<string, Promise<void>>();
  // Digests published so far (a parent's publication ends before its child's begins): the
  // base.digest annotation of the child's manifest.
  const digests = new Map<string, string>();
  const baseDigest = (want: DesiredImage) =>
    want.parent ? (digests.get(want.parent) ?? planned.get(want.parent)?.digest ?? undefined) : undefined;

  const ensureRegistry = () => {
    const state = home.availability.current;
    if (state.state === 'gone') throw new RegistryUnavailable(`${home.registry}: ${state.reason}`);
  };

  /** Tags for one image: held for the final burst (atomic), or written now. */
  const tagLater = async (entry: PendingTags) => {
    if (entry.tags.length === 0) return;
    if (atomic) {
      pending.push(entry);
      return;
    }
    emit({ type: 'step', name: entry.name, step: 'tag', detail: entry.tags.join(', ') });
    flips.push(await flipReleaseTags(home, [entry]));
  };

  const manifestAt = async (path: string, digest: string): Promise<ManifestBytes> => {
    const m = await home.getManifest(path, digest);
    return { digest: m.digest, mediaType: m.mediaType, bytes: m.bytes };
  };

  /**
   * The image another apply published under this fingerprint tag, if any. A tag the registry
   * cannot read (registry/unreadable.ts) names none: this apply pushes it again.
   */
  const fingerprintTagNow = async (want: DesiredImage) => {
    const head = await headOrUnreadable(home, want.repositoryPath, want.fingerprintTag);
    return head === UNREADABLE ? null : head;
  };

  /** Builds the image locally under all its refs; with a content fingerprint, measures it. */
  const buildLocally = async (want: DesiredImage, signal: AbortSignal, noCache: boolean) => {
    const logFile = logFileFor(request.logDir, want.name);
    const refs = [...want.tags, want.fingerprintTag].map((t) => `${want.repository}:${t}`);
    const fingerprintRef = `${want.repository}:${want.fingerprintTag}`;
    const buildRequest: BuildRequest = {
      image: want.name,
      contextDir: want.contextDir,
      dockerfile: want.dockerfile,
      tags: refs,
      buildArgs: {
        ...want.config.args,
        ...(want.parentRef ? extraBuildArgs(want.config, want.parentRef) : {}),
      },
      labels: imageLabels(want, {
        created: (request.now?.() ?? new Date()).toISOString(),
        git: request.git,
      }),
      network: desired.config.builder.network,
      platforms: want.config.platforms,
      logFile,
      signal,
      insecure: desired.config.registry.insecure,
      ...(noCache ? { noCache: true } : {}),
    };
    emit({ type: 'step', name: want.name, step: 'build', ...(noCache ? { detail: 'without cache' } : {}) });
    await builder.build(buildRequest);
    const command = want.config.contentFingerprint?.command;
    if (command === undefined) return { buildRequest, refs, fingerprintRef, logFile };
    emit({ type: 'step', name: want.name, step: 'run', detail: 'content fingerprint' });
    const content = await measureContent(builder, fingerprintRef, command, { logFile, signal });
    return { buildRequest, refs, fingerprintRef, logFile, content };
  };

  type Built = Awaited<ReturnType<typeof buildLocally>>;

  /** With a content fingerprint, the image is built once more with it as a label, before it is exported. */
  const stampContent = async (want: DesiredImage, built: Built): Promise<void> => {
    if (!built.content) return;
    emit({ type: 'step', name: want.name, step: 'build', detail: 'content fingerprint label' });
    await builder.build(stampRequest(builder, built.buildRequest, built.fingerprintRef, built.content));
  };

  /** The layers of the image's parent (or external base) that are already in a registry. */
  const learnParentLayers = (want: DesiredImage): Promise<void> => {
    const ref = want.parentRef;
    if (!ref || ref === 'scratch' || (want.parent && building.has(want.parent))) return Promise.resolve();
    let learning = learnt.get(ref);
    if (!learning) {
      learning = (async () => {
        const parsed = parseReference(ref);
        const client = clients.for(parsed.registry);
        const manifest = await client.getManifest(parsed.repository, parsed.digest ?? parsed.tag ?? 'latest');
        await known.learnFromRegistry(client, parsed.repository, manifest);
      })();
      learnt.set(ref, learning);
    }
    return learning;
  };

  /**
   * Exports the built image from the builder, uploads it by digest, and puts it under its
   * fingerprint tag — unless another apply put an image there first, which is then taken.
   */
  const publish = async (
    want: DesiredImage,
    built: Built,
    signal: AbortSignal,
    totals: CopyTotals,
    overwriteFingerprintTag: boolean,
    parentDigest = baseDigest(want),
  ): Promise<{ manifest: ManifestBytes; adopted: boolean }> => {
    ensureRegistry();
    emit({ type: 'step', name: want.name, step: 'export' });
    const imageDir = join(workDir, 'images', want.name);
    await mkdir(imageDir, { recursive: true });
    try {
      await learnParentLayers(want);
      const images = await builder.export(built.fingerprintRef, {
        logFile: built.logFile,
        signal,
        workDir: imageDir,
        known: known.sizes(),
        compressInto: known.directory,
      });
      emit({ type: 'step', name: want.name, step: 'push' });
      const manifest = await publishImage({
        images,
        known,
        target: home,
        repository: want.repositoryPath,
        ledger,
        totals,
        annotations: baseAnnotations(want, parentDigest),
        signal,
      });
      if (!overwriteFingerprintTag) {
        // Another apply of the same tree may have published this fingerprint meanwhile: the first
        // image under the tag stays, so every apply's human tags end on the same digest.
        const there = await fingerprintTagNow(want);
        if (there && there.digest !== manifest.digest)
          return { manifest: await manifestAt(want.repositoryPath, there.digest), adopted: true };
      }
      await home.putManifest(want.repositoryPath, want.fingerprintTag, manifest.bytes, manifest.mediaType);
      return { manifest, adopted: false };
    } finally {
      await rm(imageDir, { recursive: true, force: true });
    }
  };

  const done = (
    want: DesiredImage,
    status: DoneStatus,
    manifest: ManifestBytes,
    totals: CopyTotals | null,
    tags: string[],
    extra: Partial<Done> = {},
  ): Done => ({
    status,
    digest: manifest.digest,
    bytesUploaded: totals ? totals.bytesUploaded : 0,
    tagsAdded: status === 'built' || status === 'refreshed' ? [want.fingerprintTag, ...tags] : tags,
    ...extra,
  });

  /**
   * `--refresh` of an image whose inputs are unchanged: rebuild without the layer cache, compare
   * the content fingerprint with the label the registry holds at the fingerprint tag, and push
   * only a difference (the fingerprint tag then names the new content).
   */
  const refresh = async (image: PlannedImage, want: DesiredImage, signal: AbortSignal): Promise<Done> => {
    const held = await registryContentFingerprint(home, want.repositoryPath, want.fingerprintTag);
    const built = await buildLocally(want, signal, true);
    if (built.content !== undefined && built.content === held) {
      // The registry's image stays the one children build on: drop the local rebuild, so a
      // child FROM the fingerprint tag gets the pushed image, not layers the registry never saw.
      await builder.remove?.(built.refs).catch(() => undefined);
      const manifest = await manifestAt(want.repositoryPath, image.digest!);
      await tagLater({ ...pendingOf(want, image.tagsToAdd), manifest });
      return done(want, 'unchanged-content', manifest, null, image.tagsToAdd, {
        contentFingerprint: built.content,
      });
    }
    await stampContent(want, built);
    const totals = emptyTotals();
    const { manifest } = await publish(want, built, signal, totals, true);
    await tagLater({ ...pendingOf(want, want.tags), manifest });
    return done(want, 'refreshed', manifest, totals, want.tags, {
      ...(built.content ? { contentFingerprint: built.content } : {}),
    });
  };

  const pendingOf = (want: DesiredImage, tags: string[]): Omit<PendingTags, 'manifest'> => ({
    name: want.name,
    repositoryPath: want.repositoryPath,
    fingerprintTag: want.fingerprintTag,
    tags,
  });

  const run = async (name: string, signal: AbortSignal): Promise<Done | Deferred> => {
    const result = await perform(name, signal);
    if ('publication' in result) return result;
    digests.set(name, result.digest);
    doneLabels.set(name, DONE_LABELS[result.status]);
    return result;
  };

  // Publications run beside the builds: a child starts building as soon as its parent is built
  // (FROM the local image), while the parent is still being exported and uploaded. A publication
  // waits for its parent's, and does not happen when that one failed (the registry never holds a
  // child whose parent is missing).
  const publishLimit = pLimit(Math.max(2, request.concurrency));
  const publishLater = (want: DesiredImage, built: Built, signal: AbortSignal, started: number): Deferred => {
    const parent = want.parent ? publishing.get(want.parent) : undefined;
    const publication = (async (): Promise<Done> => {
      const parentDone = parent
        ? await parent.catch(() => Promise.reject(new ParentUnpublished(want.parent!)))
        : undefined;
      return publishLimit(async () => {
        signal.throwIfAborted();
        const totals = emptyTotals();
        const { manifest, adopted } = await publish(
          want,
          built,
          signal,
          totals,
          false,
          parentDone?.digest ?? baseDigest(want),
        );
        await tagLater({ ...pendingOf(want, want.tags), manifest });
        return done(want, adopted ? 'adopted' : 'built', manifest, totals, want.tags, {
          ...(built.content ? { contentFingerprint: built.content } : {}),
          ...(adopted ? { detail: 'fingerprint tag published by another apply meanwhile' } : {}),
        });
      });
    })();
    publishing.set(want.name, publication);
    // The image's outcome (build and publication), said when the publication ends.
    const outcome = publication.then(
      (value): TaskOutcome<Done> => {
        const ms = performance.now() - started;
        digests.set(want.name, value.digest);
        doneLabels.set(want.name, DONE_LABELS[value.status]);
        emit({ type: 'done', name: want.name, ms });
        return { status: 'done', value, ms };
      },
      (error: unknown): TaskOutcome<Done> => {
        const ms = performance.now() - started;
        if (error instanceof ParentUnpublished) {
          emit({ type: 'skipped', name: want.name, reason: error.message });
          return { status: 'skipped', reason: error.message };
        }
        emit({ type: 'failed', name: want.name, error, ms });
        return { status: 'failed', error, ms };
      },
    );
    return { publication, outcome };
  };

  const perform = async (name: string, signal: AbortSignal): Promise<Done | Deferred> => {
    const started = performance.now();
    const image = planned.get(name)!;
    const want = desired.images.get(name);
    if (!want) throw new Error(`image ${name} is in the plan but not in the config`);
    ensureRegistry();
    if (refreshing.has(name)) return refresh(image, want, signal);
    if (image.action === 'tag') {
      const manifest = await manifestAt(want.repositoryPath, image.digest!);
      await tagLater({ ...pendingOf(want, image.tagsToAdd), manifest });
      return done(want, 'tagged', manifest, null, image.tagsToAdd);
    }
    // Published by another apply since this plan was made: take it, build nothing.
    const already = await fingerprintTagNow(want);
    if (already) {
      const manifest = await manifestAt(want.repositoryPath, already.digest);
      await tagLater({ ...pendingOf(want, want.tags), manifest });
      return done(want, 'adopted', manifest, null, want.tags, {
        detail: 'fingerprint tag already published (another apply)',
      });
    }
    const built = await buildLocally(want, signal, false);
    await stampContent(want, built);
    return publishLater(want, built, signal, started);
  };

  const scheduled = await runDag(tasks, run, {
    concurrency: request.concurrency,
    ...(request.signal ? { signal: request.signal } : {}),
    onEvent: emit,
  });
  // An image whose publication ran on after its build: its outcome is the publication's.
  const outcomes = new Map<string, TaskOutcome<Done>>();
  for (const [name, outcome] of scheduled)
    outcomes.set(
      name,
      outcome.status === 'done' && 'publication' in outcome.value
        ? await outcome.value.outcome
        : (outcome as TaskOutcome<Done>),
    );

  const imageOutcomes = plan.images.map((image): ImageOutcome => {
    const base = {
      name: image.name,
      action: image.action,
      bytesUploaded: 0,
      tagsAdded: [] as string[],
      ms: 0,
    };
    const logFile = building.has(image.name) ? logFileFor(request.logDir, image.name) : undefined;
    if (image.action === 'none' && !refreshing.has(image.name))
      return { ...base, status: 'unchanged', ...(image.digest ? { digest: image.digest } : {}) };
    const outcome = outcomes.get(image.name);
    switch (outcome?.status) {
      case 'done':
        return {
          ...base,
          status: outcome.value.status,
          digest: outcome.value.digest,
          bytesUploaded: outcome.value.bytesUploaded,
          tagsAdded: outcome.value.tagsAdded,
          ms: outcome.ms,
          ...(outcome.value.contentFingerprint
            ? { contentFingerprint: outcome.value.contentFingerprint }
            : {}),
          ...(outcome.value.detail ? { detail: outcome.value.detail } : {}),
        };
      case 'failed': {
        const error = outcome.error;
        // A build stopped by Ctrl-C did not fail: it was cancelled.
        if (error instanceof BuildError && error.aborted)
          return { ...base, status: 'cancelled', ms: outcome.ms, detail: 'interrupted' };
        if (error instanceof RegistryUnavailable)
          return {
            ...base,
            status: 'cancelled',
            ms: outcome.ms,
            detail: 'not started: the registry is unavailable',
          };
        return {
          ...base,
          status: 'failed',
          ms: outcome.ms,
          detail: firstLine(error),
          ...(logFile ? { logFile } : {}),
        };
      }
      case 'skipped':
        return { ...base, status: 'skipped', detail: outcome.reason };
      default:
        return { ...base, status: 'cancelled', detail: 'interrupted before it finished' };
    }
  });

  const succeededAll = imageOutcomes.every(
    (o) => o.status !== 'failed' && o.status !== 'cancelled' && o.status !== 'skipped',
  );
  const gone = home.availability.current;
  const registryProblem = gone.state === 'gone' ? `${home.registry}: ${gone.reason}` : undefined;
  let flip: TagFlipReport | null = flips.length > 0 ? mergeFlips(flips) : null;
  let tagsHeldBack = 0;
  if (atomic) {
    if (succeededAll && pending.length > 0) {
      for (const p of pending) emit({ type: 'step', name: p.name, step: 'tag', detail: p.tags.join(', ') });
      flip = await flipReleaseTags(home, pending);
    } else if (!succeededAll)
      // Every human tag this apply was to write, whether or not its image got that far.
      tagsHeldBack = work.reduce(
        (n, i) =>
          n + (building.has(i.name) ? (desired.images.get(i.name)?.tags.length ?? 0) : i.tagsToAdd.length),
        0,
      );
  }
  const published: PublishedImage[] = imageOutcomes
    .filter((o) => o.digest && o.status !== 'failed' && o.status !== 'cancelled' && o.status !== 'skipped')
    .map((o) => {
      const want = desired.images.get(o.name)!;
      return {
        name: o.name,
        repositoryPath: want.repositoryPath,
        digest: o.digest!,
        tags: want.tags,
        fingerprintTag: want.fingerprintTag,
      };
    });
  return {
    // Held back, the human tags were not added: the report says so instead of listing them.
    outcomes: tagsHeldBack > 0 ? imageOutcomes.map((o) => withoutHeldTags(o, desired)) : imageOutcomes,
    flip,
    tagsHeldBack,
    published,
    compressedLayers: known.compressedDigests(),
    ...(registryProblem ? { registryProblem } : {}),
  };
}

/** An outcome whose human tags were held back: only its fingerprint tag was written. */
function withoutHeldTags(outcome: ImageOutcome, desired: DesiredState): ImageOutcome {
  const fingerprintTag = desired.images.get(outcome.name)?.fingerprintTag;
  const held = outcome.tagsAdded.filter((t) => t !== fingerprintTag);
  if (held.length === 0) return outcome;
  const written = outcome.tagsAdded.filter((t) => t === fingerprintTag);
  return {
    ...outcome,
    tagsAdded: written,
    detail: `${written.length > 0 ? `+ ${written.join(', ')}; ` : ''}held back: ${held.join(', ')}`,
  };
}

/** Thrown for an image not started because the registry went away (reported once, not per image). */
class RegistryUnavailable extends Error {}

/** A publication not made because the parent's failed (the image was built, and stays local). */
class ParentUnpublished extends Error {
  constructor(parent: string) {
    super(`parent ${parent} was not published`);
  }
}

/** An image built, whose publication runs on after the scheduler moved on to its children. */
interface Deferred {
  publication: Promise<Done>;
  /** The image's outcome, once the publication ended and was reported (never rejects). */
  outcome: Promise<TaskOutcome<Done>>;
}

function mergeFlips(flips: TagFlipReport[]): TagFlipReport {
  return {
    tags: flips.reduce((n, f) => n + f.tags, 0),
    windowMs: 0,
    followed: flips.flatMap((f) => f.followed),
  };
}

function firstLine(error: unknown): string {
  const message =
    error instanceof BuildError
      ? error.diagnostics[0]!.message
      : error instanceof Error
        ? error.message
        : String(error);
  return message.split('\n')[0]!;
}
