// The shape of images.yaml as parsed, once the schema has accepted it (snake_case keys, as
// written). Only build.ts turns it into the camelCase model that the rest of arbor uses.

export type RawScalar = string | number | boolean;

export interface RawImage {
  parent?: string;
  from?: string;
  template?: string;
  dockerfile?: string;
  override?: string;
  context?: string;
  inputs?: { files?: string[]; env?: string[] };
  args?: Record<string, RawScalar>;
  platforms?: string[];
  tags?: string[];
  labels?: Record<string, RawScalar>;
  variables?: Record<string, unknown>;
  content_fingerprint?: { command: string };
  metadata?: RawMetadata;
}

/** `metadata:` keys → `org.opencontainers.image.<key>` labels. */
export type RawMetadata = Partial<
  Record<
    'title' | 'description' | 'vendor' | 'authors' | 'licenses' | 'url' | 'documentation' | 'source',
    string
  >
>;

interface RawPassphrase {
  passphrase_env?: string;
  passphrase_file?: string;
}

export interface RawSigning {
  gpg?: { key: string; lookaside: string } & RawPassphrase;
  sigstore?: { key: string; public_key?: string } & RawPassphrase;
  sbom?: boolean;
  provenance?: boolean;
}

export interface RawRetentionRule {
  repositories?: string[];
  extra_repositories?: string[];
  expire_tags?: string[];
  keep_last?: number;
  order?: 'created' | 'semver' | 'tag-pattern';
  tag_pattern?: string;
  keep_tags?: string[];
  keep_newer_than?: string;
  delete_untagged?: boolean;
  allow_empty?: boolean;
}

export interface RawRegistry {
  url: string;
  namespace?: string;
  insecure?: boolean;
  ca_file?: string;
}

export interface RawPromoteTarget {
  name: string;
  registry: RawRegistry;
  tags?: string[];
  immutable_tags?: string[];
  gate?: { command?: string; require_tag?: string; require_labels?: Record<string, string> };
  require_signature?: boolean;
  sign?: { lookaside: string };
  retention?: RawRetentionRule[];
}

export interface RawConfig {
  version: 1;
  registry: RawRegistry;
  builder?: {
    name?: 'docker' | 'buildah' | 'podman' | 'buildx';
    buildkit?: boolean;
    buildx_builder?: string;
    network?: string;
  };
  variables?: Record<string, unknown>;
  env?: string[];
  tags?: string[];
  template_overrides?: string[];
  templates_dir?: string;
  template_helpers?: { globals?: Record<string, string>; filters?: Record<string, string> };
  template_options?: {
    trim_blocks?: boolean;
    lstrip_blocks?: boolean;
    keep_trailing_newline?: boolean;
    strict_undefined?: boolean;
    python_values?: boolean;
  };
  fingerprint?: { tag_prefix?: string };
  images: Record<string, RawImage>;
  retention?: RawRetentionRule[];
  signing?: RawSigning;
  metadata?: RawMetadata;
  releases?: { tag?: string; repository?: string; record?: boolean; deltas?: boolean };
  promote?: RawPromoteTarget[];
}
