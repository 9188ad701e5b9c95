// The source side of a registry-to-registry copy (promote, sync): images that must be copied as
// the transfer engine takes them — manifests (an index with its children) read once per digest,
// blobs as sources read from the source registry — plus the artifacts that refer to them
// (signatures, SBOMs, provenance, layer deltas).
import type { RegistryClient } from '../registry/client.js';
import type { DigestCache } from '../registry/digest-cache.js';
import { unlessNotFound } from '../registry/errors.js';
import { type Descriptor, isIndex, type Manifest } from '../registry/manifest-model.js';
import { isForeignLayer, isIndexMediaType } from '../registry/media-types.js';
import { REFERRER_DEPTH, type Referrers } from '../registry/referrers.js';
import { registryBlob } from './blob-source.js';
import type { ImageToCopy } from './model.js';

/** The bytes a tag names: what a tag PUT sends. */
export type ManifestBody = Pick<Manifest, 'digest' | 'mediaType' | 'bytes'>;

/** Manifests read once per digest (a promotion to several targets reads each only once). */
export class SourceManifests {
  private readonly cache = new Map<string, Promise<Manifest>>();
  private readonly bodies = new Map<string, Promise<ManifestBody>>();
  private readonly referrerLists = new Map<string, Promise<Referrers>>();

  /**
   * `kept`: the tree's digest cache on disk. Every manifest read from the source is kept there,
   * and a tag's bytes are taken from it (see {@link tagBody}).
   */
  constructor(
    readonly client: RegistryClient,
    private readonly kept?: DigestCache,
  ) {}

  /** The manifest as the source holds it now (a 404 says it is gone there). */
  get(repository: string, digest: string): Promise<Manifest> {
    return askOnce(this.cache, `${repository}@${digest}`, async () => {
      const manifest = await this.client.getManifest(repository, digest);
      await this.kept?.put(manifest.digest, manifest.bytes, manifest.mediaType);
      return manifest;
    });
  }

  /**
   * The bytes to PUT under a tag naming `digest`: from the digest cache when an earlier run kept
   * them (checked against the digest on every read), else from the source. Bytes under a digest
   * never change, so a release after release promotion reads from the source only the manifests
   * that are new — a manifest GET is what pull budgets count. For a manifest the target lacks,
   * the copy reads the source all the same ({@link image}), which also says whether it is gone.
   */
  tagBody(repository: string, digest: string): Promise<ManifestBody> {
    return askOnce(this.bodies, `${repository}@${digest}`, async () => {
      const kept = await this.kept?.get(digest);
      return kept ? { digest, mediaType: kept.mediaType, bytes: kept.bytes } : this.get(repository, digest);
    });
  }

  /** Whether this run has read the manifest, or is reading it (from the source or the digest cache). */
  asked(repository: string, digest: string): boolean {
    const key = `${repository}@${digest}`;
    return this.cache.has(key) || this.bodies.has(key);
  }

  /** Whether the digest cache holds the bytes (a tag's body is then not read from the source). */
  keeps(digest: string): boolean {
    return this.kept?.has(digest) ?? false;
  }

  /** The image (or index with children) as the transfer engine copies it from the source. */
  async image(repository: string, digest: string): Promise<ImageToCopy> {
    const manifest = await this.get(repository, digest);
    const json = manifest.json;
    const base = {
      manifest: { digest: manifest.digest, mediaType: manifest.mediaType, bytes: manifest.bytes },
    };
    if (isIndex(json))
      return {
        ...base,
        blobs: [],
        children: await Promise.all(json.manifests.map((d) => this.image(repository, d.digest))),
      };
    const blobs: Descriptor[] = [json.config, ...json.layers].filter(
      (b) => !isForeignLayer(b.mediaType ?? ''),
    );
    return {
      ...base,
      blobs: blobs.map((d) => ({
        descriptor: d,
        source: registryBlob(this.client, repository, d.digest, d.size),
      })),
      children: [],
    };
  }

  /** Every blob descriptor of an image, its index children's included, each once. */
  async blobs(repository: string, digest: string): Promise<Descriptor[]> {
    const image = await this.image(repository, digest);
    const all = new Map<string, Descriptor>();
    const walk = (i: ImageToCopy) => {
      for (const b of i.blobs) all.set(b.descriptor.digest, b.descriptor);
      for (const c of i.children) walk(c);
    };
    walk(image);
    return [...all.values()];
  }

  /** What refers to a manifest, asked once (a promotion's plan counts them, its apply copies them). */
  listReferrers(repository: string, digest: string): Promise<Referrers> {
    return askOnce(this.referrerLists, `${repository}@${digest}`, () =>
      this.client.referrers(repository, digest),
    );
  }

  /**
   * What refers to the image: to it, to each child of an index (`cosign sign --recursive` signs
   * both), and to those artifacts in turn (a signature of an SBOM), {@link REFERRER_DEPTH} deep as
   * in a bundle; each with the manifest it refers to, parents before what refers to them. Listings
   * only, each asked once per run. An index's children are read from its bytes (the digest cache's
   * when it keeps them); `mediaType`, when known, spares that read for a plain image.
   */
  async referrals(repository: string, digest: string, mediaType?: string): Promise<Referral[]> {
    const found: Referral[] = [];
    const seen = new Set<string>();
    const visit = async (subject: string, subjectType: string | undefined, depth: number) => {
      const [listed, children] = await Promise.all([
        this.listReferrers(repository, subject),
        this.childrenOf(repository, subject, subjectType),
      ]);
      const fresh = listed.manifests.filter((d) => !seen.has(d.digest));
      for (const d of fresh) {
        seen.add(d.digest);
        found.push({ subject, descriptor: d });
      }
      await Promise.all([
        ...children.map((c) => visit(c.digest, c.mediaType, depth)),
        ...(depth + 1 < REFERRER_DEPTH ? fresh.map((d) => visit(d.digest, d.mediaType, depth + 1)) : []),
      ]);
    };
    await visit(digest, mediaType, 0);
    return found;
  }

  /** The children of an index (none for an image manifest). */
  private async childrenOf(repository: string, digest: string, mediaType?: string): Promise<Descriptor[]> {
    if (mediaType !== undefined && mediaType !== '' && !isIndexMediaType(mediaType)) return [];
    // Gone from the source: the plan says so on its own; nothing refers to what is not there.
    const body = await unlessNotFound(this.tagBody(repository, digest), undefined);
    if (!body) return [];
    const json = JSON.parse(body.bytes.toString('utf8')) as { manifests?: Descriptor[] };
    return Array.isArray(json.manifests) ? json.manifests : [];
  }

  /** The artifacts referring to the image or to its parts (see {@link referrals}), read to copy along. */
  async referrers(repository: string, digest: string): Promise<{ subject: string; artifact: ImageToCopy }[]> {
    const referrals = await this.referrals(repository, digest);
    return Promise.all(
      referrals.map(async (r) => ({
        subject: r.subject,
        artifact: await this.image(repository, r.descriptor.digest),
      })),
    );
  }
}

/** One artifact referring to an image or a part of it, and the manifest it refers to. */
export interface Referral {
  subject: string;
  descriptor: Descriptor;
}

/** Images as a promotion names them at the source. */
export interface SourceImageRef {
  repository: string;
  digest: string;
  /** When known: an image manifest's children need no read. */
  mediaType?: string;
}

/**
 * How many manifest GETs the source will still see from `manifests` after what this run has read or
 * asked already: the bytes of the tags to write (unless the digest cache holds them), the images to
 * copy, and what refers to them (listed already). A pull budget counts these reads. An image not
 * read yet counts once: an index's children are known only once it is read.
 */
export async function manifestReadsToCome(
  manifests: SourceManifests,
  tagged: readonly SourceImageRef[],
  copied: readonly SourceImageRef[],
): Promise<number> {
  const toRead = new Set<string>();
  for (const image of tagged)
    if (!manifests.asked(image.repository, image.digest) && !manifests.keeps(image.digest))
      toRead.add(`${image.repository}@${image.digest}`);
  for (const image of copied) {
    if (!manifests.asked(image.repository, image.digest)) toRead.add(`${image.repository}@${image.digest}`);
    for (const { descriptor: d } of await manifests.referrals(
      image.repository,
      image.digest,
      image.mediaType,
    ))
      if (!manifests.asked(image.repository, d.digest)) toRead.add(`${image.repository}@${d.digest}`);
  }
  return toRead.size;
}

/** The answer kept under `key`, asked for the first time now if there is none. */
function askOnce<T>(answers: Map<string, Promise<T>>, key: string, ask: () => Promise<T>): Promise<T> {
  let answer = answers.get(key);
  if (!answer) {
    answer = ask();
    answers.set(key, answer);
  }
  return answer;
}
