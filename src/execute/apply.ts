// apply: carry out exactly a plan. Builds run on the DAG scheduler (parents first, critical
// path first, failures isolated to their subtree); every built image is pushed under one tag
// by the builder, its other tags are added by manifest copy, and the fingerprint tag goes last,
// so an interrupted apply never leaves an image that looks complete. Tag-only images get their
// tags by manifest copy: no build, no blob upload. An image with a `content_fingerprint` is
// measured after its build and stamped with it (content-fingerprint.ts); `--refresh` rebuilds
// such images without the cache and pushes only those whose content really changed.

import type { RegistryClients } from '../plan/clients.js';
import type { DesiredImage, DesiredState } from '../plan/desired.js';
import type { Plan, PlannedImage } from '../plan/model.js';
import { writeTagsGuarded } from '../registry/deletion-guard.js';
import type { GitInfo } from '../render/git.js';
import { extraBuildArgs } from '../render/render.js';
import { BuildError, type Builder, type BuildRequest } from './builders/index.js';
import { measureContent, registryContentFingerprint, stampRequest } from './content-fingerprint.js';
import { imageLabels } from './labels.js';
import { logFileFor } from './logs.js';
import { pushBuiltImage } from './push.js';
import { runDag, type SchedulerEvent, type Task } from './scheduler.js';

export type ImageStatus =
  | 'built'
  | 'tagged'
  | 'unchanged'
  /** `apply --refresh`: rebuilt, its content fingerprint differed, pushed under all its tags. */
  | 'refreshed'
  /** `apply --refresh`: rebuilt, same content fingerprint as the registry's: not pushed. */
  | 'unchanged-content'
  | 'failed'
  | 'skipped'
  | 'cancelled';

export interface ImageOutcome {
  name: string;
  action: PlannedImage['action'];
  status: ImageStatus;
  /** Digest now at the image's tags. */
  digest?: string;
  /** Blob bytes uploaded for this image; null when the builder cannot tell. */
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
  | { type: 'step'; name: string; step: 'build' | 'push' | 'tag' | 'run'; detail?: string }
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
}

type DoneStatus = 'built' | 'tagged' | 'refreshed' | 'unchanged-content';

interface Done {
  status: DoneStatus;
  digest: string;
  bytesUploaded: number | null;
  tagsAdded: string[];
  contentFingerprint?: string;
}

const DONE_LABELS: Record<DoneStatus, string> = {
  built: 'built',
  tagged: 'tagged',
  refreshed: 'refreshed',
  'unchanged-content': 'content unchanged, not pushed',
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

export async function applyPlan(request: ApplyRequest): Promise<ImageOutcome[]> {
  const { plan, desired, clients, builder } = request;
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
  const emit = (e: ApplyEvent) => {
    // The scheduler only knows a task finished; say what it did.
    const label = e.type === 'done' ? doneLabels.get(e.name) : undefined;
    request.onEvent?.(label && e.type === 'done' ? { ...e, label } : e);
  };
  const home = clients.home;

  const addTags = async (name: string, digest: string, tags: string[], signal: AbortSignal) => {
    if (tags.length === 0) return;
    emit({ type: 'step', name, step: 'tag', detail: tags.join(', ') });
    const want = desired.images.get(name)!;
    // Manifest copies that a concurrent `arbor retention` cannot delete unnoticed: it would put
    // them back, with the fingerprint tag they stand on (registry/deletion-guard.ts).
    await writeTagsGuarded(home, want.repositoryPath, digest, tags, { signal, keep: [want.fingerprintTag] });
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
      labels: imageLabels(want, { created: (request.now?.() ?? new Date()).toISOString(), git: request.git }),
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

  /** Stamps the content fingerprint label (when there is one), then pushes every tag, the fingerprint tag last. */
  const publish = async (
    want: DesiredImage,
    built: Awaited<ReturnType<typeof buildLocally>>,
    signal: AbortSignal,
  ): Promise<Omit<Done, 'status'>> => {
    if (built.content) {
      emit({ type: 'step', name: want.name, step: 'build', detail: 'content fingerprint label' });
      await builder.build(stampRequest(builder, built.buildRequest, built.fingerprintRef, built.content));
    }
    emit({ type: 'step', name: want.name, step: 'push' });
    const pushed = await pushBuiltImage({
      builder,
      client: home,
      repository: want.repository,
      repositoryPath: want.repositoryPath,
      tags: want.tags,
      fingerprintTag: want.fingerprintTag,
      insecure: desired.config.registry.insecure,
      logFile: built.logFile,
      signal,
    });
    return {
      digest: pushed.digest,
      bytesUploaded: pushed.bytesUploaded,
      tagsAdded: [...want.tags, want.fingerprintTag],
      ...(built.content ? { contentFingerprint: built.content } : {}),
    };
  };

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
      await addTags(image.name, image.digest!, image.tagsToAdd, signal);
      return {
        status: 'unchanged-content',
        digest: image.digest!,
        bytesUploaded: 0,
        tagsAdded: image.tagsToAdd,
        contentFingerprint: built.content,
      };
    }
    return { status: 'refreshed', ...(await publish(want, built, signal)) };
  };

  const run = async (name: string, signal: AbortSignal): Promise<Done> => {
    const done = await perform(name, signal);
    doneLabels.set(name, DONE_LABELS[done.status]);
    return done;
  };

  const perform = async (name: string, signal: AbortSignal): Promise<Done> => {
    const image = planned.get(name)!;
    const want = desired.images.get(name);
    if (!want) throw new Error(`image ${name} is in the plan but not in the config`);
    if (refreshing.has(name)) return refresh(image, want, signal);
    if (image.action === 'tag') {
      await addTags(name, image.digest!, image.tagsToAdd, signal);
      return { status: 'tagged', digest: image.digest!, bytesUploaded: 0, tagsAdded: image.tagsToAdd };
    }
    const built = await buildLocally(want, signal, false);
    return { status: 'built', ...(await publish(want, built, signal)) };
  };

  const outcomes = await runDag(tasks, run, {
    concurrency: request.concurrency,
    ...(request.signal ? { signal: request.signal } : {}),
    onEvent: emit,
  });

  return plan.images.map((image): ImageOutcome => {
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
        };
      case 'failed': {
        const error = outcome.error;
        // A build stopped by Ctrl-C did not fail: it was cancelled.
        if (error instanceof BuildError && error.aborted)
          return { ...base, status: 'cancelled', ms: outcome.ms, detail: 'interrupted' };
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
