// What retention reasons about: per repository, the artifacts (one per manifest digest) with the
// tags pointing at them, as observe.ts read them from the registry. Plain values, so the
// evaluation (evaluate.ts) is a pure function tested without a registry.

export interface StoredBlob {
  digest: string;
  /** Compressed bytes, as the manifest's descriptor says. */
  size: number;
}

export interface Artifact {
  /** The manifest digest: an image manifest or an index (a multi-arch image is one artifact). */
  digest: string;
  /** Every tag pointing at the digest; empty for an untagged manifest (e.g. an index child). */
  tags: string[];
  /** Image creation time (ms since epoch) from the image config; may lie (reproducible builds). */
  created?: number;
  /** When the registry last received it under one of its tags, if it says so (Docker Hub; distribution does not). */
  pushedAt?: number;
  /**
   * Tags arbor saw arrive on it after an earlier look (tag-hints.ts): tag → when arbor first saw
   * it here (ms since epoch). The write happened before that, but after the earlier look.
   */
  tagsSeenSince?: Record<string, number>;
  mediaType: string;
  /** For an index: the manifests it lists. */
  children: string[];
  /** What the manifest holds in storage: its own bytes, its config and layers (not its children's). */
  blobs: StoredBlob[];
}

export interface RepositoryHistory {
  /** Path inside the registry: `openstack/keystone`. */
  repository: string;
  /** Indexes of the retention rules that select this repository. */
  rules: number[];
  artifacts: Artifact[];
  /**
   * Tags the registry answered 500 for (a link a crash left empty, registry/unreadable.ts): what
   * they name is unknown, so nothing of the repository is deleted while any is there.
   */
  unreadableTags?: string[];
}

export interface KeptArtifact {
  repository: string;
  digest: string;
  tags: string[];
  /** Every reason it is kept (keep wins: one is enough). */
  reasons: string[];
}
