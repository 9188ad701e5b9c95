// apply: carry out exactly a plan. Builds run on the DAG scheduler (parents first, critical
// path first, failures isolated to their subtree); every built image is pushed under one tag
// by the builder, its other tags are added by manifest copy, and the fingerprint tag goes last,
// so an interrupted apply never leaves an image that looks complete. Tag-only images get their
// tags by manifest copy: no build, no blob upload.

import type { RegistryClients } from '../plan/clients.js';
import type { DesiredState } from '../plan/desired.js';
import type { Plan, PlannedImage } from '../plan/model.js';
import type { GitInfo } from '../render/git.js';
import { extraBuildArgs } from '../render/render.js';
import { BuildError, type Builder } from './builders/index.js';
import { imageLabels } from './labels.js';
import { logFileFor } from './logs.js';
import { pushBuiltImage } from './push.js';
import { runDag, type SchedulerEvent, type Task } from './scheduler.js';

export type ImageStatus = 'built' | 'tagged' | 'unchanged' | 'failed' | 'skipped' | 'cancelled';

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
}

export type ApplyEvent =
  | SchedulerEvent
  | { type: 'step'; name: string; step: 'build' | 'push' | 'tag'; detail?: string };

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
   * registry's (teams rebuild daily for distro fixes; most rebuilds change nothing).
   */
  refresh?: boolean;
}

interface Done {
  digest: string;
  bytesUploaded: number | null;
  tagsAdded: string[];
}

export async function applyPlan(request: ApplyRequest): Promise<ImageOutcome[]> {
  const { plan, desired, clients } = request;
  const planned = new Map(plan.images.map((i) => [i.name, i]));
  const work = plan.images.filter((i) => i.action !== 'none');
  const building = new Set(work.filter((i) => i.action === 'build').map((i) => i.name));
  // Only a parent that is built in this apply is a dependency; a tag-only image depends on nothing.
  const tasks: Task[] = work.map((i) => ({
    name: i.name,
    parent: i.action === 'build' && i.parent && building.has(i.parent) ? i.parent : null,
    weight: i.action === 'build' ? 10 : 1,
  }));
  const emit = (e: ApplyEvent) => request.onEvent?.(e);
  const home = clients.home;

  const run = async (name: string, signal: AbortSignal): Promise<Done> => {
    const image = planned.get(name)!;
    if (image.action === 'tag') {
      emit({ type: 'step', name, step: 'tag', detail: image.tagsToAdd.join(', ') });
      const path = desired.images.get(name)!.repositoryPath;
      for (const tag of image.tagsToAdd) await home.tagManifest(path, image.digest!, tag);
      return { digest: image.digest!, bytesUploaded: 0, tagsAdded: image.tagsToAdd };
    }
    const want = desired.images.get(name);
    if (!want) throw new Error(`image ${name} is in the plan but not in the config`);
    const logFile = logFileFor(request.logDir, name);
    const refs = [...want.tags, want.fingerprintTag].map((t) => `${want.repository}:${t}`);
    emit({ type: 'step', name, step: 'build' });
    await request.builder.build({
      image: name,
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
    });
    emit({ type: 'step', name, step: 'push' });
    const pushed = await pushBuiltImage({
      builder: request.builder,
      client: home,
      repository: want.repository,
      repositoryPath: want.repositoryPath,
      tags: want.tags,
      fingerprintTag: want.fingerprintTag,
      insecure: desired.config.registry.insecure,
      logFile,
      signal,
    });
    return {
      digest: pushed.digest,
      bytesUploaded: pushed.bytesUploaded,
      tagsAdded: [...want.tags, want.fingerprintTag],
    };
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
    const logFile = image.action === 'build' ? logFileFor(request.logDir, image.name) : undefined;
    if (image.action === 'none')
      return { ...base, status: 'unchanged', ...(image.digest ? { digest: image.digest } : {}) };
    const outcome = outcomes.get(image.name);
    switch (outcome?.status) {
      case 'done':
        return {
          ...base,
          status: image.action === 'build' ? 'built' : 'tagged',
          digest: outcome.value.digest,
          bytesUploaded: outcome.value.bytesUploaded,
          tagsAdded: outcome.value.tagsAdded,
          ms: outcome.ms,
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
