// The typed model of images.yaml. Produced by config/load.ts after YAML parsing and schema
// validation; consumed by every other module. Field names are camelCase here; the YAML keys
// are snake_case (keep_last → keepLast).

import type { Diagnostic, SourceLocation } from '../errors.js';

export type BuilderName = 'docker' | 'buildah' | 'podman' | 'buildx';

export interface RegistryConfig {
  /** `host[:port]` exactly as written, e.g. `127.0.0.1:5000`. */
  url: string;
  /** The group in `registry/group/name:tag`; empty string when absent. */
  namespace: string;
  /** Plain HTTP. Only when asked for. */
  insecure: boolean;
  /** PEM file with extra CAs to trust for this registry (relative to the config root). */
  caFile?: string;
}

export interface BuilderConfig {
  name: BuilderName;
  /** docker only: use BuildKit (`DOCKER_BUILDKIT=1`). */
  buildkit: boolean;
  /** buildx only: the `--builder NAME` to use (remote, Kubernetes, …). */
  buildxBuilder?: string;
  /** `--network` for RUN steps: none | host | default. */
  network: string;
}

export interface ImageInputs {
  /** Globs relative to the config root; each must match at least one file. */
  files: string[];
  /** Environment variable names whose values are fingerprint inputs. */
  env: string[];
}

export interface ImageConfig {
  name: string;
  /** Another image of this file. Exclusive with `from`. */
  parent?: string;
  /** External base: `scratch` or an image reference (resolved to a digest at plan time). */
  from?: string;
  /** Template path relative to the templates directory. Resolved default applied by the loader. */
  template?: string;
  /** Plain Dockerfile path relative to the config root. Exclusive with `template`. */
  dockerfile?: string;
  /** Per-image template override (relative to templates dir): extends the image's template, replaces blocks. */
  override?: string;
  /** Build context directory relative to the config root; undefined means an empty context. */
  context?: string;
  inputs: ImageInputs;
  args: Record<string, string>;
  /** e.g. `linux/amd64`; empty means the builder's default platform. */
  platforms: string[];
  /** Tag templates; overrides the top-level `tags` when present. */
  tags?: string[];
  /** Labels added to the image besides arbor's own. */
  labels: Record<string, string>;
  /** Variables of this image's Dockerfile templates, over the top-level ones (e.g. Kolla's `image_name`). */
  variables?: Record<string, unknown>;
  /** Command run inside the built image whose output is the content fingerprint (plan & apply issue). */
  contentFingerprint?: { command: string };
  /** Where the image's key is in the file. */
  loc: SourceLocation;
}

/** A passphrase for a signing key: from an environment variable or a file, never from images.yaml. */
export interface PassphraseSource {
  passphraseEnv?: string;
  /** Relative to the config root. */
  passphraseFile?: string;
}

/** `signing:` (docs/signing.md). Paths are relative to the config root, as written. */
export interface SigningConfig {
  /** GPG simple signing: the key's fingerprint and the lookaside directory signatures go to. */
  gpg?: { key: string; lookaside: string } & PassphraseSource;
  /** Sigstore bundles signed with a PEM PKCS#8 ECDSA P-256 key. */
  sigstore?: { key: string; publicKey?: string } & PassphraseSource;
  /** Attach an SPDX SBOM to every published image (default true). */
  sbom: boolean;
  /** Attach an in-toto SLSA provenance statement to every published image (default true). */
  provenance: boolean;
}

export type RetentionOrder = 'created' | 'semver' | 'tag-pattern';

export interface RetentionRule {
  /** Position in the `retention` list; deletions cite it as `rule`. */
  index: number;
  /** Globs over the tree's repository names (`keystone`, `*-base`). */
  repositories: string[];
  /**
   * Repositories outside the tree (old releases, removed images), as paths in the registry
   * (`openstack/old-service`), or globs over the registry's catalog (`openstack-2024.1/*`).
   * Absent when the rule has none.
   */
  extraRepositories?: string[];
  keepLast?: number;
  order: RetentionOrder;
  /** For order `tag-pattern`: a regex with one capture group whose value orders versions. */
  tagPattern?: string;
  /** Anchored RE2-compatible regexes. */
  keepTags: string[];
  /**
   * Tags that go even when their digest is kept by another tag or clause (tag-only deletion),
   * start-anchored RE2 like keepTags. Absent when the rule has none.
   */
  expireTags?: string[];
  /** Duration string as written: `30d`, `12h`. */
  keepNewerThan?: string;
  deleteUntagged: boolean;
  /** Allow a rule to delete every tag of a repository. */
  allowEmpty: boolean;
  loc: SourceLocation;
}

/** `releases:`: the record apply writes when it changes the tree (docs/releases.md). */
export interface ReleasesConfig {
  /** Tag template naming a release; default: the last of the top-level `tags`. */
  tag: string;
  /** Repository under the namespace holding the records (`arbor-releases`). */
  repository: string;
  /** Whether apply writes one. */
  record: boolean;
  /** Whether apply publishes layer deltas against the previous release. */
  deltas: boolean;
}

/** One `promote:` target (docs/promote.md). */
export interface PromoteTarget {
  name: string;
  registry: RegistryConfig;
  /** RE2 regexes (start-anchored) selecting the tags published there; empty: every tag. */
  tags: string[];
  immutableTags: string[];
  gate?: { command?: string; requireTag?: string; requireLabels?: Record<string, string> };
  requireSignature: boolean;
  /** Sign the target's tags with `signing.gpg`'s key into this lookaside directory (absolute). */
  sign?: { lookaside: string };
  /** Rules for the target's repositories; `index` counts within this target. */
  retention: RetentionRule[];
  /** Index in `promote:`. */
  index: number;
  loc: SourceLocation;
}

export interface TemplateOptions {
  trimBlocks: boolean;
  lstripBlocks: boolean;
  keepTrailingNewline: boolean;
  /** An undefined variable is an error (arbor), or an empty string (Jinja2's default). */
  strictUndefined: boolean;
  /** `{{ value }}` prints as Python does (True, None, [1, 3]) instead of as JavaScript does. */
  pythonValues?: boolean;
}

export interface Config {
  /** Absolute path of images.yaml. */
  file: string;
  /** Directory holding images.yaml; every relative path is resolved against it. */
  root: string;
  /** Absolute templates directory (`templates/` under root unless `templates_dir` says otherwise). */
  templatesDir: string;
  /** sha256 of the canonical JSON of the parsed document: comments and key order do not change it. */
  configDigest: string;
  version: 1;
  registry: RegistryConfig;
  builder: BuilderConfig;
  variables: Record<string, unknown>;
  /** Environment variable names visible to tag templates as `env.NAME`. */
  env: string[];
  /** Default tag templates for every image. */
  tags: string[];
  /** Applied to every image in order, Kolla style: each extends the previous template. */
  templateOverrides: string[];
  /** Whitespace and undefined variables in Dockerfile templates (`template_options`, Jinja2's names). */
  templateOptions?: TemplateOptions;
  /** Template functions and filters written in Python: name → file under templatesDir. */
  templateHelpers?: { globals: Record<string, string>; filters: Record<string, string> };
  fingerprint: { tagPrefix: string };
  /** In file order. */
  images: ImageConfig[];
  retention: RetentionRule[];
  /** Absent: apply signs nothing and attaches nothing. */
  signing?: SigningConfig;
  releases: ReleasesConfig;
  /** `promote:` targets, in file order (empty when none). */
  promote: PromoteTarget[];
  /** Warnings found while loading (e.g. a retention rule that keeps nothing); absent when none. */
  warnings?: Diagnostic[];
  /**
   * Source position of a node by its path in the document (`['images', 'keystone', 'parent']`).
   * Falls back to the nearest existing ancestor, so every diagnostic can carry a location.
   */
  locate(path: ReadonlyArray<string | number>): SourceLocation;
}
