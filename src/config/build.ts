// Raw (schema-valid) data → the typed Config with every default filled in. Pure: the
// filesystem is consulted later, by checks-files.ts.
import path from 'node:path';
import type { SourceLocation } from '../errors.js';
import type { Config, ImageConfig, PromoteTarget, RegistryConfig, RetentionRule } from './model.js';
import type {
  RawConfig,
  RawImage,
  RawMetadata,
  RawPromoteTarget,
  RawRegistry,
  RawRetentionRule,
  RawScalar,
} from './raw.js';
import { buildSigning, metadataLabels } from './signing.js';
import type { DataPath } from './source.js';

export const DEFAULT_TEMPLATES_DIR = 'templates';
export const DEFAULT_TAG_PREFIX = 'fp-';
export const DEFAULT_RELEASES_REPOSITORY = 'arbor-releases';

function buildRegistry(raw: RawRegistry): RegistryConfig {
  return {
    url: raw.url,
    namespace: raw.namespace ?? '',
    insecure: raw.insecure ?? false,
    ...(raw.ca_file !== undefined ? { caFile: raw.ca_file } : {}),
  };
}

function buildTarget(raw: RawPromoteTarget, index: number, context: BuildContext): PromoteTarget {
  const gate = raw.gate
    ? {
        ...(raw.gate.command !== undefined ? { command: raw.gate.command } : {}),
        ...(raw.gate.require_tag !== undefined ? { requireTag: raw.gate.require_tag } : {}),
        ...(raw.gate.require_labels !== undefined ? { requireLabels: raw.gate.require_labels } : {}),
      }
    : undefined;
  return {
    name: raw.name,
    registry: buildRegistry(raw.registry),
    tags: raw.tags ?? [],
    immutableTags: raw.immutable_tags ?? [],
    ...(gate ? { gate } : {}),
    requireSignature: raw.require_signature ?? false,
    ...(raw.sign
      ? { sign: { lookaside: path.resolve(path.dirname(context.file), raw.sign.lookaside) } }
      : {}),
    retention: (raw.retention ?? []).map((rule, i) =>
      buildRule(rule, i, context.locate(['promote', index, 'retention', i])),
    ),
    index,
    loc: context.locate(['promote', index]),
  };
}

export interface BuildContext {
  /** Absolute path of images.yaml. */
  file: string;
  configDigest: string;
  locate(path: DataPath): SourceLocation;
  locateKey(path: DataPath): SourceLocation;
  keysAt(path: DataPath): string[];
}

export function buildConfig(raw: RawConfig, context: BuildContext): Config {
  const root = path.dirname(context.file);
  return {
    file: context.file,
    root,
    templatesDir: path.resolve(root, raw.templates_dir ?? DEFAULT_TEMPLATES_DIR),
    configDigest: context.configDigest,
    version: 1,
    registry: buildRegistry(raw.registry),
    builder: {
      name: raw.builder?.name ?? 'docker',
      buildkit: raw.builder?.buildkit ?? true,
      ...(raw.builder?.buildx_builder !== undefined ? { buildxBuilder: raw.builder.buildx_builder } : {}),
      network: raw.builder?.network ?? 'none',
    },
    variables: raw.variables ?? {},
    env: raw.env ?? [],
    tags: raw.tags ?? [],
    templateOverrides: raw.template_overrides ?? [],
    ...(raw.template_helpers !== undefined
      ? {
          templateHelpers: {
            globals: raw.template_helpers.globals ?? {},
            filters: raw.template_helpers.filters ?? {},
          },
        }
      : {}),
    templateOptions: {
      trimBlocks: raw.template_options?.trim_blocks ?? true,
      lstripBlocks: raw.template_options?.lstrip_blocks ?? true,
      keepTrailingNewline: raw.template_options?.keep_trailing_newline ?? true,
      strictUndefined: raw.template_options?.strict_undefined ?? true,
      ...(raw.template_options?.python_values ? { pythonValues: true } : {}),
    },
    fingerprint: { tagPrefix: raw.fingerprint?.tag_prefix ?? DEFAULT_TAG_PREFIX },
    images: imageNamesInFileOrder(raw, context).map((name) =>
      buildImage(name, raw.images[name]!, context.locateKey(['images', name]), raw.metadata),
    ),
    retention: (raw.retention ?? []).map((rule, index) =>
      buildRule(rule, index, context.locate(['retention', index])),
    ),
    ...(raw.signing ? { signing: buildSigning(raw.signing)! } : {}),
    releases: {
      tag: raw.releases?.tag ?? raw.tags?.at(-1) ?? `{{ image.fingerprint_tag }}`,
      repository: raw.releases?.repository ?? DEFAULT_RELEASES_REPOSITORY,
      record: raw.releases?.record ?? true,
      deltas: raw.releases?.deltas ?? true,
    },
    promote: (raw.promote ?? []).map((target, index) => buildTarget(target, index, context)),
    locate: context.locate,
  };
}

function imageNamesInFileOrder(raw: RawConfig, context: BuildContext): string[] {
  const names = context.keysAt(['images']).filter((name) => Object.hasOwn(raw.images, name));
  // Through an alias the mapping may not be found in the source; the data still has every image.
  return names.length === Object.keys(raw.images).length ? names : Object.keys(raw.images);
}

function buildImage(
  name: string,
  raw: RawImage,
  loc: SourceLocation,
  metadata: RawMetadata | undefined,
): ImageConfig {
  return {
    name,
    ...(raw.parent !== undefined ? { parent: raw.parent } : {}),
    ...(raw.from !== undefined ? { from: raw.from } : {}),
    ...(raw.template !== undefined ? { template: raw.template } : {}),
    ...(raw.dockerfile !== undefined ? { dockerfile: raw.dockerfile } : {}),
    ...(raw.override !== undefined ? { override: raw.override } : {}),
    ...(raw.context !== undefined ? { context: raw.context } : {}),
    inputs: { files: raw.inputs?.files ?? [], env: raw.inputs?.env ?? [] },
    args: stringValues(raw.args),
    platforms: raw.platforms ?? [],
    ...(raw.tags !== undefined ? { tags: raw.tags } : {}),
    labels: { ...metadataLabels(metadata, raw.metadata), ...stringValues(raw.labels) },
    ...(raw.variables !== undefined ? { variables: raw.variables } : {}),
    ...(raw.content_fingerprint ? { contentFingerprint: { command: raw.content_fingerprint.command } } : {}),
    loc,
  };
}

function buildRule(raw: RawRetentionRule, index: number, loc: SourceLocation): RetentionRule {
  return {
    index,
    repositories: raw.repositories ?? [],
    ...(raw.extra_repositories !== undefined ? { extraRepositories: raw.extra_repositories } : {}),
    ...(raw.keep_last !== undefined ? { keepLast: raw.keep_last } : {}),
    order: raw.order ?? 'created',
    ...(raw.tag_pattern !== undefined ? { tagPattern: raw.tag_pattern } : {}),
    keepTags: raw.keep_tags ?? [],
    ...(raw.expire_tags !== undefined ? { expireTags: raw.expire_tags } : {}),
    ...(raw.keep_newer_than !== undefined ? { keepNewerThan: raw.keep_newer_than } : {}),
    deleteUntagged: raw.delete_untagged ?? false,
    allowEmpty: raw.allow_empty ?? false,
    loc,
  };
}

/** Build args and labels are strings on the command line; `PATCH: 5` means "5". */
function stringValues(values: Record<string, RawScalar> | undefined): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(values ?? {})) result[key] = String(value);
  return result;
}
