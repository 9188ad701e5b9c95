// desired × observed → Plan. Pure: no network, no clock but the one passed in.
import { relative } from 'node:path';
import { diffInputs, encodeInputsLabel, INPUTS_LABEL } from '../fingerprint/inputs-label.js';
import type { FingerprintInput } from '../fingerprint/model.js';
import { FINGERPRINT_LABEL } from '../fingerprint/model.js';
import { extraBuildArgs } from '../render/render.js';
import type { DesiredImage, DesiredState } from './desired.js';
import {
  type Action,
  PLAN_FORMAT_VERSION,
  type Plan,
  type PlannedBuild,
  type PlannedDeletion,
  type PlannedImage,
} from './model.js';
import type { Observation, ObservedImage } from './observe.js';

export interface ComputeOptions {
  /** images.yaml as the user named it, for the saved plan. */
  configFile: string;
  now: Date;
  deletions?: PlannedDeletion[];
  /** Whether the registry holds the record of the release the tree names (undefined: not asked). */
  releaseRecorded?: boolean;
}

/** Why a tag read as absent although the registry has it (registry/unreadable.ts). */
const UNREADABLE_NOTE = 'is unreadable at the registry (it answered 500, as for a link a crash left empty)';

export function computePlan(desired: DesiredState, observation: Observation, options: ComputeOptions): Plan {
  const planned = new Map<string, PlannedImage>();
  for (const name of desired.order) {
    const image = desired.images.get(name)!;
    const seen = observation.images.get(name);
    if (!seen) throw new Error(`internal: image ${name} was not observed`);
    const parentBuilt = image.parent !== null && planned.get(image.parent)?.action === 'build';
    let action: Action;
    let reasons: string[];
    let tagsToAdd: string[];

    const unreadable = (tag: string) => seen.unreadable?.includes(tag) ?? false;
    if (!seen.fingerprintDigest) {
      action = 'build';
      reasons = unreadable(image.fingerprintTag)
        ? [`fingerprint tag ${image.fingerprintTag} ${UNREADABLE_NOTE}: built and pushed again`]
        : buildReasons(image.parent, parentBuilt, image.inputs, seen.previous);
      tagsToAdd = [...image.tags, image.fingerprintTag];
    } else {
      tagsToAdd = image.tags.filter((tag) => seen.tags[tag] !== seen.fingerprintDigest);
      action = tagsToAdd.length > 0 ? 'tag' : 'none';
      reasons =
        action === 'tag'
          ? tagsToAdd.map((tag) =>
              unreadable(tag)
                ? `tag ${tag} ${UNREADABLE_NOTE}: written again`
                : seen.tags[tag]
                  ? `tag ${tag} moves here from ${shortDigest(seen.tags[tag]!)}`
                  : `new tag ${tag} requested`,
            )
          : ['up to date'];
    }
    planned.set(name, {
      name,
      repository: image.repository,
      fingerprint: image.fingerprint,
      fingerprintTag: image.fingerprintTag,
      action,
      reasons,
      parent: image.parent,
      tags: image.tags,
      tagsToAdd,
      digest: seen.fingerprintDigest,
      build: plannedBuild(desired, image),
    });
  }

  const images = desired.order.map((name) => planned.get(name)!);
  const deletions = options.deletions ?? [];
  return {
    formatVersion: PLAN_FORMAT_VERSION,
    configDigest: desired.config.configDigest,
    createdAt: options.now.toISOString(),
    configFile: options.configFile,
    images,
    deletions,
    summary: {
      build: images.filter((i) => i.action === 'build').length,
      tag: images.filter((i) => i.action === 'tag').length,
      none: images.filter((i) => i.action === 'none').length,
      delete: deletions.length,
    },
    observed: sortKeys(observation.observed),
    ...(options.releaseRecorded === false && desired.releaseName && images.every((i) => i.action === 'none')
      ? { release: { name: desired.releaseName, record: 'missing' as const } }
      : {}),
  };
}

function buildReasons(
  parent: string | null,
  parentBuilt: boolean,
  inputs: FingerprintInput[],
  previous: ObservedImage['previous'],
): string[] {
  const reasons: string[] = [];
  if (parentBuilt) reasons.push(`parent ${parent} is rebuilt`);
  if (!previous) {
    if (!parentBuilt) reasons.push('not in registry');
    return reasons;
  }
  if (!previous.inputs) {
    reasons.push(`tag ${previous.tag} holds an image arbor did not build (no inputs label)`);
    return reasons;
  }
  // The parent's fingerprint always differs when the parent is rebuilt; say it once.
  const diffs = diffInputs(inputs, previous.inputs).filter((r) => !(parentBuilt && r.startsWith('parent')));
  reasons.push(...diffs);
  if (reasons.length === 0) reasons.push(`inputs differ from ${previous.tag}`);
  return reasons;
}

/** Where rendered Dockerfiles live (`arbor render --out .arbor/render` writes the same layout). */
export const RENDER_DIR = '.arbor/render';

/** How the image is built, relative to the config root, for exports to other build systems. */
function plannedBuild(desired: DesiredState, image: DesiredImage): PlannedBuild {
  const root = desired.config.root;
  return {
    context: image.contextDir ? relative(root, image.contextDir) || '.' : null,
    dockerfile: `${RENDER_DIR}/${image.name}/Dockerfile`,
    args: { ...image.config.args, ...(image.parentRef ? extraBuildArgs(image.config, image.parentRef) : {}) },
    labels: {
      ...image.config.labels,
      [FINGERPRINT_LABEL]: image.fingerprint,
      [INPUTS_LABEL]: encodeInputsLabel(image.inputs),
    },
    platforms: image.config.platforms,
    parentRef: image.parentRef === 'scratch' ? null : image.parentRef,
  };
}

export function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

function sortKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
