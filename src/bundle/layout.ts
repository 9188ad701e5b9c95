// The files of a bundle from its content: index.json (one entry per image and tag, then the
// referrers), Docker's manifest.json and repositories (one platform per image, for `docker load`
// and `podman load`), the table of contents, and the blobs in file order. Pure and deterministic:
// keys in a fixed order, every list sorted, so the same content always gives the same bytes.
import { ArborError } from '../errors.js';
import { defaultChild, isIndex, type Platform } from '../registry/manifest-model.js';
import { DOCKER_CONFIG, OCI_CONFIG, OCI_INDEX } from '../registry/media-types.js';
import type { ReleaseRecord } from '../release/record.js';
import { allBlobs, type BundleContent, type BundledImage, sourceName } from './contents.js';
import {
  ANNOTATION_BUNDLE_NAME,
  ANNOTATION_IMAGE_NAME,
  ANNOTATION_REF_NAME,
  type BundleToc,
  blobPath,
  DOCKER_MANIFEST_FILE,
  DOCKER_REPOSITORIES_FILE,
  INDEX_FILE,
  OCI_LAYOUT_BYTES,
  OCI_LAYOUT_FILE,
  orderBlobs,
  serializeToc,
  TOC_FILE,
  TOC_FORMAT_VERSION,
  type TocBlob,
} from './format.js';

export interface LayoutOptions {
  /** `registry/namespace` the images came from. */
  source: string;
  release?: string;
  /** The release record, when the bundle holds the whole release. */
  record?: ReleaseRecord;
  /** An update bundle: the release it follows and the blobs that release had (left out). */
  since?: { release: string; blobs: ReadonlySet<string> };
  /** The platform `manifest.json` names for a multi-platform image (default: this machine's). */
  platform?: Platform;
}

export interface BundleLayout {
  /** The small files at the start, in order (the directories and blobs follow). */
  files: { name: string; bytes: Buffer }[];
  /** Blobs in file order. */
  blobs: TocBlob[];
  toc: BundleToc;
  /** Images left out of Docker's manifest.json: their zstd layers stop `docker load` part-way. */
  notForDockerLoad: string[];
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function bundleLayout(content: BundleContent, options: LayoutOptions): BundleLayout {
  checkNames(content.images);
  const reachable = allBlobs(content);
  const omitted = [...reachable.values()]
    .filter((b) => b.kind === 'blob' && options.since?.blobs.has(b.digest))
    .sort((a, b) => compare(a.digest, b.digest));
  const left = new Set(omitted.map((b) => b.digest));
  const blobs = orderBlobs(
    [...reachable.values()]
      .filter((b) => !left.has(b.digest))
      .map((b) => ({ digest: b.digest, size: b.size, kind: b.kind })),
  );
  const toc: BundleToc = {
    formatVersion: TOC_FORMAT_VERSION,
    source: options.source,
    ...(options.release !== undefined ? { release: options.release } : {}),
    ...(options.record ? { record: options.record } : {}),
    ...(options.since
      ? {
          since: {
            release: options.since.release,
            omitted: omitted.map((b) => ({ digest: b.digest, size: b.size })),
          },
        }
      : {}),
    blobs,
  };
  const files = [
    { name: OCI_LAYOUT_FILE, bytes: OCI_LAYOUT_BYTES },
    { name: INDEX_FILE, bytes: indexJson(content) },
    { name: TOC_FILE, bytes: serializeToc(toc) },
  ];
  // An update bundle lacks layers an engine would need: it loads only through `bundle push`.
  let notForDockerLoad: string[] = [];
  if (omitted.length === 0) {
    const docker = dockerManifest(content, options.platform);
    notForDockerLoad = docker.skipped;
    files.push(
      { name: DOCKER_MANIFEST_FILE, bytes: Buffer.from(JSON.stringify(docker.entries)) },
      { name: DOCKER_REPOSITORIES_FILE, bytes: Buffer.from(JSON.stringify(docker.repositories)) },
    );
  }
  return { files, blobs, toc, notForDockerLoad };
}

/** One name:tag must mean one image: two sources giving the same name a different content is an error. */
function checkNames(images: BundledImage[]): void {
  const seen = new Map<string, BundledImage>();
  const problems: string[] = [];
  for (const image of images) {
    for (const tag of image.tags) {
      const key = `${image.name}:${tag}`;
      const other = seen.get(key);
      if (other && other.digest !== image.digest)
        problems.push(
          `${key} would name two images: ${sourceName(other, tag)}@${other.digest.slice(0, 19)}… and ${sourceName(image, tag)}@${image.digest.slice(0, 19)}…`,
        );
      seen.set(key, image);
    }
  }
  if (problems.length > 0) throw new ArborError(problems.map((message) => ({ severity: 'error', message })));
}

function indexJson(content: BundleContent): Buffer {
  const entries = new Map<string, { sort: string; descriptor: Record<string, unknown> }>();
  const describe = (digest: string, annotations?: Record<string, string>) => {
    const m = content.manifests.get(digest)!;
    const artifactType = isIndex(m.json) ? undefined : m.json.artifactType;
    return {
      mediaType: m.mediaType,
      digest,
      size: m.bytes.length,
      ...(artifactType ? { artifactType } : {}),
      ...(annotations ? { annotations } : {}),
    };
  };
  for (const image of content.images) {
    if (image.tags.length === 0) {
      entries.set(`${image.name}@${image.digest}`, {
        sort: `1 ${image.name}@${image.digest}`,
        descriptor: describe(image.digest, { [ANNOTATION_BUNDLE_NAME]: image.name }),
      });
    }
    for (const tag of image.tags) {
      entries.set(`${image.name}:${tag}`, {
        sort: `0 ${image.name}:${tag}`,
        descriptor: describe(image.digest, {
          [ANNOTATION_IMAGE_NAME]: sourceName(image, tag),
          [ANNOTATION_BUNDLE_NAME]: image.name,
          [ANNOTATION_REF_NAME]: `${image.name}:${tag}`,
        }),
      });
    }
  }
  // Referrers listed too, so the layout holds them reachable (OCI tools collect unlisted blobs).
  for (const list of content.referrers.values())
    for (const digest of list)
      if (content.manifests.has(digest))
        entries.set(digest, { sort: `2 ${digest}`, descriptor: describe(digest) });
  const manifests = [...entries.values()].sort((a, b) => compare(a.sort, b.sort)).map((e) => e.descriptor);
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
}

interface DockerEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

/**
 * `docker save`'s manifest.json: one entry per image manifest (the chosen platform's for an
 * index), named by every `registry/repository:tag` that points at it. Docker 20.10 reads layers
 * named by their compressed digest and decompresses them itself.
 */
export function dockerManifest(
  content: BundleContent,
  platform?: Platform,
): { entries: DockerEntry[]; repositories: Record<string, Record<string, string>>; skipped: string[] } {
  const byManifest = new Map<string, { config: string; layers: string[]; names: Set<string> }>();
  const repositories: Record<string, Record<string, string>> = {};
  const skipped: string[] = [];
  for (const image of content.images) {
    const digest = runnableManifest(content, image.digest, platform);
    if (!digest) continue;
    const m = content.manifests.get(digest)!;
    if (isIndex(m.json)) continue;
    // Docker 20.10 cannot decompress zstd, and one such entry stops `docker load` part-way
    // through the file: the image stays in the OCI layout (podman, skopeo, bundle push).
    if (m.json.layers.some((l) => l.mediaType.endsWith('+zstd'))) {
      skipped.push(image.name);
      continue;
    }
    const entry = byManifest.get(digest) ?? {
      config: blobPath(m.json.config.digest),
      layers: m.json.layers.map((l) => blobPath(l.digest)),
      names: new Set<string>(),
    };
    byManifest.set(digest, entry);
    const top = m.json.layers.at(-1);
    for (const tag of image.tags) {
      entry.names.add(sourceName(image, tag));
      if (top) {
        const repository = `${image.source.registry}/${image.source.repository}`;
        repositories[repository] = { ...repositories[repository], [tag]: top.digest.slice(7) };
      }
    }
  }
  const entries = [...byManifest.values()]
    .map((e) => ({ names: [...e.names].sort(compare), config: e.config, layers: e.layers }))
    .sort((a, b) => compare(a.names[0] ?? `~${a.config}`, b.names[0] ?? `~${b.config}`))
    .map((e) => ({ Config: e.config, RepoTags: e.names.length > 0 ? e.names : null, Layers: e.layers }));
  const sortedRepositories = Object.fromEntries(
    Object.keys(repositories)
      .sort(compare)
      .map((r) => [
        r,
        Object.fromEntries(
          Object.keys(repositories[r]!)
            .sort(compare)
            .map((t) => [t, repositories[r]![t]!]),
        ),
      ]),
  );
  return { entries, repositories: sortedRepositories, skipped: [...new Set(skipped)].sort(compare) };
}

/** The image manifest an engine would run: the manifest itself, or the platform's child of an index. */
function runnableManifest(content: BundleContent, digest: string, platform?: Platform): string | undefined {
  const m = content.manifests.get(digest);
  if (!m) return undefined;
  if (isIndex(m.json)) {
    const child = defaultChild(m.json, platform);
    return child ? runnableManifest(content, child.digest, platform) : undefined;
  }
  const configType = m.json.config.mediaType;
  return configType === OCI_CONFIG || configType === DOCKER_CONFIG ? digest : undefined;
}
