// Signing and attesting what apply published: for every image (built or newly tagged) a GPG
// signature per tag in the lookaside store, a sigstore bundle, an SBOM and a provenance statement
// attached as referrers. Idempotent: a signature or attachment made with the same key is never
// made twice, so a rerun after a failure finishes the job and a rerun after success changes
// nothing. Apply (or promote, sync) calls this with the images it published; how it published
// them does not matter here.
import { availableParallelism } from 'node:os';
import { basename } from 'node:path';
import pLimit from 'p-limit';
import type { Config } from '../config/model.js';
import { ArborError, error } from '../errors.js';
import type { FingerprintInput } from '../fingerprint/model.js';
import { VERSION } from '../package-info.js';
import { type ArtifactSpec, attachArtifact } from '../registry/attach.js';
import type { RegistryClient } from '../registry/client.js';
import type { Descriptor } from '../registry/manifest-model.js';
import {
  type AttachmentKind,
  bundleArtifact,
  KEY_ANNOTATION,
  kindOf,
  PREDICATE_OF,
  plainArtifact,
} from './attachments.js';
import { digestSet, statement } from './dsse.js';
import { addGpgSignatures, type PreparedSignatures, storeGpgSignatures } from './gpg-signatures.js';
import type { SigningKeys } from './keys.js';
import { scanImage } from './layer-scan.js';
import { type InstalledPackage, parsePackageListing } from './packages.js';
import { provenanceStatement } from './provenance.js';
import { spdxDocument } from './sbom.js';
import { prepareImageTags, signImageTags, tagIdentities } from './sign-tags.js';
import { publicKeyHint, signStatement } from './sigstore.js';
import { dockerReference } from './simple-signing.js';

/** One image apply (or promote, sync) put in the registry. */
export interface PublishedImage {
  name: string;
  /** `host/namespace/name` */
  repository: string;
  /** `namespace/name` */
  repositoryPath: string;
  digest: string;
  /** Every tag now naming the digest that this run wrote or wants: each gets its own GPG signature. */
  tags: string[];
  fingerprint: string;
  inputs: FingerprintInput[];
  /** The parent in the tree or the external base, with its manifest digest when known. */
  parent?: { reference: string; digest?: string };
  contentFingerprint?: string;
  /** What the image's content-fingerprint command printed (package lists), when there is one. */
  packageListing?: string;
  startedOn?: string;
}

export interface SignContext {
  keys: SigningKeys;
  client: RegistryClient;
  config: Pick<Config, 'file' | 'configDigest' | 'registry'>;
  git: { commit?: string; branch?: string; source?: string };
  /** Asked only when a provenance statement is made (it may run the builder's `--version`). */
  builder: () => Promise<{ name: string; version?: string }>;
  /** Attachment lookups already under way (apply starts them while it tags), by lookupKey. */
  lookups?: AttachmentLookups;
  /** GPG signatures already made (not stored) while the tags were written, by lookupKey. */
  prepared?: PreparedLookups;
  /** Produces the content-fingerprint output of an image that has a command but no listing yet. */
  listPackages?: (image: PublishedImage) => Promise<string | undefined>;
  now?: () => Date;
  concurrency?: number;
}

export interface SignedImage {
  name: string;
  digest: string;
  /** GPG signature files written (0 when every tag was signed already). */
  gpgSignatures: number;
  /** Attachments added by this run; those already present are not repeated. */
  attached: AttachmentKind[];
}

/** Signs and attests every image; throws on the first failure (nothing half-done is hidden). */
export async function signPublished(images: PublishedImage[], context: SignContext): Promise<SignedImage[]> {
  // GPG signatures of every image first, all at once: they are local files, and the signer
  // batches the gpg runs of the whole release into a few processes.
  const local = pLimit(64);
  const gpgWritten = await Promise.all(
    images.map((image) => local(() => guarded(image, () => gpgSignImage(image, context)))),
  );
  // Which attachments each image has is one small GET: asked many at a time (the connections
  // are the limit), unless apply asked already. Making what is missing (an SBOM may read every
  // layer) takes the smaller limit.
  const asked = startEach(
    images.filter((image) => !context.lookups?.has(lookupKey(image))),
    16,
    (image) => presentAttachments(context.keys, context.client, image),
  );
  const present = images.map(
    (image) => context.lookups?.get(lookupKey(image)) ?? asked.get(lookupKey(image))!,
  );
  const limit = pLimit(context.concurrency ?? Math.max(4, availableParallelism() * 2));
  return Promise.all(
    images.map((image, i) =>
      limit(async () => {
        const signed = await guarded(image, async () => signOne(image, await present[i]!, context));
        return { ...signed, gpgSignatures: signed.gpgSignatures + gpgWritten[i]! };
      }),
    ),
  );
}

async function gpgSignImage(image: PublishedImage, context: SignContext): Promise<number> {
  const gpg = context.keys.gpg;
  if (!gpg) return 0;
  const now = context.now?.() ?? new Date();
  const registry = context.config.registry.url;
  const tagged = { repository: image.repositoryPath, digest: image.digest, tags: image.tags };
  // Made while the tags were written, for the same digest and identities: stored now.
  const prepared = await context.prepared?.get(lookupKey(image))?.catch(() => undefined);
  const identities = tagIdentities(registry, tagged);
  if (prepared && sameList(prepared.identities, identities))
    return (await storeGpgSignatures(gpg, prepared)).length;
  return (await signImageTags(gpg, registry, tagged, now)).length;
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Makes (in memory) the GPG signatures of images that keep their digest, before they are
 * published: apply does it while its tags are written; signing then only stores them, once
 * everything succeeded. Nothing is written here.
 */
export function prepareTagSignatures(
  keys: SigningKeys,
  registry: string,
  images: Array<Pick<PublishedImage, 'repositoryPath' | 'digest' | 'tags'>>,
  now = new Date(),
): PreparedLookups {
  const gpg = keys.gpg;
  if (!gpg) return new Map();
  return startEach(images, 16, (image) =>
    prepareImageTags(
      gpg,
      registry,
      { repository: image.repositoryPath, digest: image.digest, tags: image.tags },
      now,
    ),
  );
}

export type PreparedLookups = Map<string, Promise<PreparedSignatures>>;

/** Signing failures name the image: apply reports them as one line each. */
async function guarded<T>(image: PublishedImage, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    throw new ArborError(
      [error(`signing ${image.repository}@${image.digest}: ${(e as Error).message}`, { image: image.name })],
      { cause: e },
    );
  }
}

function wantedAttachments(keys: SigningKeys): AttachmentKind[] {
  return [
    ...(keys.sigstore ? (['signature'] as const) : []),
    ...(keys.sbom ? (['sbom'] as const) : []),
    ...(keys.provenance ? (['provenance'] as const) : []),
  ];
}

function keyNameOf(keys: SigningKeys): string {
  return keys.sigstore ? publicKeyHint(keys.sigstore.publicKey) : keys.gpg!.key;
}

/** The image's referrers made with this run's key (nothing is asked when nothing is wanted). */
async function presentAttachments(
  keys: SigningKeys,
  client: RegistryClient,
  image: AttachmentSubject,
): Promise<Descriptor[]> {
  if (wantedAttachments(keys).length === 0) return [];
  const keyName = keyNameOf(keys);
  return (await client.referrers(image.repositoryPath, image.digest)).manifests.filter(
    (d) => d.annotations?.[KEY_ANNOTATION] === keyName,
  );
}

type AttachmentSubject = Pick<PublishedImage, 'repositoryPath' | 'digest'>;
export type AttachmentLookups = Map<string, Promise<Descriptor[]>>;

function lookupKey(image: AttachmentSubject): string {
  return `${image.repositoryPath}@${image.digest}`;
}

/**
 * Starts asking which attachments images already in the registry have, a few at a time, before
 * they are signed: apply does it while its tags are written, so signing then finds the answers.
 * A failed lookup is reported by the signing that uses it.
 */
export function startAttachmentLookups(
  keys: SigningKeys,
  client: RegistryClient,
  images: AttachmentSubject[],
): AttachmentLookups {
  return startEach(images, 8, (image) => presentAttachments(keys, client, image));
}

/**
 * `work` for every image, `concurrency` at a time, started now; its promises by lookupKey. A
 * failure is the caller's to report when it awaits that image's promise, not an unhandled one.
 */
function startEach<I extends AttachmentSubject, T>(
  images: I[],
  concurrency: number,
  work: (image: I) => Promise<T>,
): Map<string, Promise<T>> {
  const limit = pLimit(concurrency);
  const started = new Map<string, Promise<T>>();
  for (const image of images) {
    const promise = limit(() => work(image));
    promise.catch(() => undefined);
    started.set(lookupKey(image), promise);
  }
  return started;
}

async function signOne(
  image: PublishedImage,
  present: Descriptor[],
  context: SignContext,
): Promise<SignedImage> {
  const { keys, client } = context;
  const now = context.now?.() ?? new Date();
  const created = now.toISOString();
  const registry = context.config.registry.url;
  const result: SignedImage = { name: image.name, digest: image.digest, gpgSignatures: 0, attached: [] };

  const wanted = wantedAttachments(keys);
  if (wanted.length === 0) return result;

  const keyName = keyNameOf(keys);
  const missing = wanted.filter((kind) => !present.some((d) => kindOf(d) === kind));
  // A GPG-signed attachment whose signature is missing (an interrupted run) is signed now.
  const unsigned = keys.gpg && !keys.sigstore ? present.filter((d) => kindOf(d) !== null) : [];

  // The subject descriptor is needed only to attach something (most reruns attach nothing).
  const head = missing.length > 0 ? await client.headManifest(image.repositoryPath, image.digest) : null;
  if (missing.length > 0 && !head) throw new Error('not in the registry');
  const subject: Descriptor = {
    mediaType: head?.mediaType ?? '',
    digest: image.digest,
    size: head?.size ?? 0,
  };
  const attach = async (kind: AttachmentKind, spec: ArtifactSpec) => {
    const attached = await attachArtifact(client, image.repositoryPath, spec);
    result.attached.push(kind);
    return attached;
  };
  const toSign: string[] = unsigned.map((d) => d.digest);
  const at = { created, key: keyName };
  const documents = await attestations(image, context, missing, created);
  for (const kind of missing) {
    if (keys.sigstore) {
      const content =
        kind === 'signature'
          ? statement([{ digest: digestSet(image.digest) }], PREDICATE_OF.signature, {})
          : kind === 'sbom'
            ? statement(
                [{ name: image.repository, digest: digestSet(image.digest) }],
                PREDICATE_OF.sbom,
                documents.sbom,
              )
            : documents.provenance!;
      await attach(kind, bundleArtifact(kind, subject, signStatement(content, keys.sigstore.privateKey), at));
    } else if (kind !== 'signature') {
      const attached = await attach(
        kind,
        plainArtifact(kind, subject, { sbom: documents.sbom, statement: documents.provenance! }, at),
      );
      toSign.push(attached.digest);
    }
  }
  if (keys.gpg)
    for (const digest of toSign)
      result.gpgSignatures += (
        await addGpgSignatures(
          keys.gpg,
          image.repositoryPath,
          digest,
          [dockerReference(registry, image.repositoryPath)],
          now,
        )
      ).length;
  return result;
}

/** The SBOM and provenance documents the missing attachments need (nothing is read otherwise). */
async function attestations(
  image: PublishedImage,
  context: SignContext,
  missing: AttachmentKind[],
  created: string,
) {
  const documents: { sbom?: unknown; provenance?: ReturnType<typeof provenanceStatement> } = {};
  if (missing.includes('sbom')) {
    const manifest = await context.client.getManifest(image.repositoryPath, image.digest);
    const config = await context.client.getImageConfig(image.repositoryPath, manifest);
    const listing = image.packageListing ?? (await context.listPackages?.(image));
    let packages: InstalledPackage[];
    let distro: string | undefined;
    let source: string;
    if (listing !== undefined) {
      packages = parsePackageListing(listing);
      source = 'packages from the image content-fingerprint command output';
    } else {
      const scanned = await scanImage(context.client, image.repositoryPath, manifest);
      ({ packages, distro } = scanned);
      source = 'packages from the package databases in the image layers';
      if (scanned.unreadable.length > 0)
        source += `; layers not readable as archives: ${scanned.unreadable.join(', ')}`;
    }
    documents.sbom = spdxDocument(
      {
        repository: image.repository,
        digest: image.digest,
        created: config.created ?? created,
        source,
        ...(distro ? { distro } : {}),
      },
      packages,
    );
  }
  if (missing.includes('provenance'))
    documents.provenance = provenanceStatement({
      repository: image.repository,
      digest: image.digest,
      image: image.name,
      tags: image.tags,
      fingerprint: image.fingerprint,
      inputs: image.inputs,
      configFile: basename(context.config.file),
      configDigest: context.config.configDigest,
      git: context.git,
      ...(image.parent ? { parent: image.parent } : {}),
      ...(image.contentFingerprint ? { contentFingerprint: image.contentFingerprint } : {}),
      builder: await context.builder(),
      arborVersion: VERSION,
      ...(image.startedOn ? { startedOn: image.startedOn } : {}),
      finishedOn: created,
    });
  return documents;
}
