// Data the schema did not accept → a RawConfig that build.ts can still turn into a model, so the
// checks after the schema (values, files, graph) report on everything else in the same run.
// Nothing here judges a value: the schema has reported each wrong one, and the checks skip the
// nodes it rejected (see rejected.ts). This only makes the shape safe to read: a value of the
// wrong type keeps its key (a `template: 5` is still "a template was given") as its text, or is
// dropped where presence means nothing; a parent the schema rejected is dropped so the graph does
// not report it a second time.
import type { RawConfig, RawImage, RawRetentionRule, RawScalar, RawSigning } from './raw.js';
import type { Rejected } from './rejected.js';

type Mapping = Record<string, unknown>;

export function lenientRaw(data: unknown, rejected: Rejected): RawConfig {
  const top = mapping(data);
  const registry = mapping(top.registry);
  const builder = mapping(top.builder);
  const fingerprint = mapping(top.fingerprint);
  const images: Record<string, RawImage> = {};
  for (const [name, entry] of Object.entries(mapping(top.images))) {
    images[name] = lenientImage(mapping(entry), rejected.at(['images', name, 'parent']));
  }
  return {
    version: 1,
    registry: {
      url: text(registry.url) ?? '',
      ...optional('namespace', text(registry.namespace)),
      ...optional('insecure', flag(registry.insecure)),
      ...optional('ca_file', text(registry.ca_file)),
    },
    builder: {
      ...optional('name', oneOf(builder.name, ['docker', 'buildah', 'podman', 'buildx'] as const)),
      ...optional('buildkit', flag(builder.buildkit)),
      ...optional('buildx_builder', text(builder.buildx_builder)),
      ...optional('network', text(builder.network)),
    },
    ...optional('variables', isMapping(top.variables) ? top.variables : undefined),
    ...optional('env', texts(top.env)),
    ...optional('tags', texts(top.tags)),
    ...optional('template_overrides', texts(top.template_overrides)),
    ...optional('templates_dir', text(top.templates_dir)),
    ...optional(
      'template_helpers',
      top.template_helpers === undefined
        ? undefined
        : {
            ...optional('globals', stringMap(mapping(top.template_helpers).globals)),
            ...optional('filters', stringMap(mapping(top.template_helpers).filters)),
          },
    ),
    ...optional(
      'template_options',
      top.template_options === undefined ? undefined : templateOptions(mapping(top.template_options)),
    ),
    ...optional('fingerprint', { ...optional('tag_prefix', text(fingerprint.tag_prefix)) }),
    images,
    // A rule that is not a mapping stays as an empty rule so the others keep their index (and
    // position); everything in it is rejected, so no check speaks about it.
    ...optional('retention', Array.isArray(top.retention) ? top.retention.map(lenientRule) : undefined),
    ...optional('signing', isMapping(top.signing) ? lenientSigning(top.signing) : undefined),
  };
}

/** The key files of `signing:` are still checked when another part of the file was rejected. */
function lenientSigning(signing: Mapping): RawSigning {
  const gpg = mapping(signing.gpg);
  const sigstore = mapping(signing.sigstore);
  const passphrase = (m: Mapping) => ({
    ...optional('passphrase_env', text(m.passphrase_env)),
    ...optional('passphrase_file', text(m.passphrase_file)),
  });
  return {
    ...optional(
      'gpg',
      isMapping(signing.gpg)
        ? { key: text(gpg.key) ?? '', lookaside: text(gpg.lookaside) ?? '', ...passphrase(gpg) }
        : undefined,
    ),
    ...optional(
      'sigstore',
      isMapping(signing.sigstore)
        ? {
            key: text(sigstore.key) ?? '',
            ...optional('public_key', text(sigstore.public_key)),
            ...passphrase(sigstore),
          }
        : undefined,
    ),
  };
}

function stringMap(value: unknown): Record<string, string> | undefined {
  if (!isMapping(value)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  return out;
}

function templateOptions(options: Mapping): RawConfig['template_options'] {
  return {
    ...optional('trim_blocks', flag(options.trim_blocks)),
    ...optional('lstrip_blocks', flag(options.lstrip_blocks)),
    ...optional('keep_trailing_newline', flag(options.keep_trailing_newline)),
    ...optional('strict_undefined', flag(options.strict_undefined)),
  };
}

function lenientImage(entry: Mapping, parentRejected: boolean): RawImage {
  const inputs = mapping(entry.inputs);
  const fingerprint = mapping(entry.content_fingerprint);
  return {
    ...optional('parent', parentRejected ? undefined : text(entry.parent)),
    ...optional('from', text(entry.from)),
    ...optional('template', text(entry.template)),
    ...optional('dockerfile', text(entry.dockerfile)),
    ...optional('override', text(entry.override)),
    ...optional('context', text(entry.context)),
    ...optional(
      'inputs',
      entry.inputs === undefined
        ? undefined
        : { ...optional('files', texts(inputs.files)), ...optional('env', texts(inputs.env)) },
    ),
    ...optional('args', scalars(entry.args)),
    ...optional('platforms', texts(entry.platforms)),
    ...optional('tags', texts(entry.tags)),
    ...optional('labels', scalars(entry.labels)),
    ...optional('variables', isMapping(entry.variables) ? entry.variables : undefined),
    ...optional(
      'content_fingerprint',
      entry.content_fingerprint === undefined ? undefined : { command: text(fingerprint.command) ?? '' },
    ),
  };
}

function lenientRule(entry: unknown): RawRetentionRule {
  const rule = mapping(entry);
  return {
    ...optional('repositories', texts(rule.repositories)),
    ...optional('extra_repositories', texts(rule.extra_repositories)),
    ...optional('expire_tags', texts(rule.expire_tags)),
    ...optional('keep_last', typeof rule.keep_last === 'number' ? rule.keep_last : undefined),
    ...optional('order', oneOf(rule.order, ['created', 'semver', 'tag-pattern'] as const)),
    ...optional('tag_pattern', text(rule.tag_pattern)),
    ...optional('keep_tags', texts(rule.keep_tags)),
    ...optional('keep_newer_than', text(rule.keep_newer_than)),
    ...optional('delete_untagged', flag(rule.delete_untagged)),
    ...optional('allow_empty', flag(rule.allow_empty)),
  };
}

function isMapping(value: unknown): value is Mapping {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function mapping(value: unknown): Mapping {
  return isMapping(value) ? value : {};
}

/** A string field: absent stays absent, anything else present keeps its key as text. */
function text(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : canonicalText(value);
}

/** A list of strings: items keep their index (positions are looked up by it). */
function texts(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.map((item) => text(item) ?? '') : [];
}

function scalars(value: unknown): Record<string, RawScalar> | undefined {
  if (value === undefined) return undefined;
  const result: Record<string, RawScalar> = {};
  for (const [key, item] of Object.entries(mapping(value))) {
    result[key] =
      typeof item === 'string' || typeof item === 'number' || typeof item === 'boolean'
        ? item
        : canonicalText(item);
  }
  return result;
}

function flag(value: unknown): boolean | undefined {
  return typeof value === 'boolean' ? value : undefined;
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[]): T | undefined {
  return allowed.find((candidate) => candidate === value);
}

/** The schema rejected the value; only its presence counts, so its text is never shown. */
function canonicalText(value: unknown): string {
  return value === null || typeof value === 'object' ? '' : String(value);
}

/** `{ key: value }` when the value is there, `{}` otherwise (exactOptionalPropertyTypes-safe). */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
