// The image config blob: creation time, labels (the fingerprint label lives there), platform.
// For an index, the config of the child arbor would run here (linux/amd64 first) plus the list
// of all children.
import { getBlobBytes } from './blobs.js';
import type { RegistryContext } from './context.js';
import { describeRef } from './context.js';
import { digestOf } from './digest.js';
import { RegistryError } from './errors.js';
import { getManifest } from './manifest.js';
import { defaultChild, isIndex, type Manifest, type Platform } from './manifest-model.js';

const CONFIG_LIMIT = 8 * 1024 * 1024;

export interface IndexChild {
  digest: string;
  mediaType: string;
  size: number;
  platform?: Platform;
}

export interface ImageConfig {
  created?: string;
  labels: Record<string, string>;
  architecture: string;
  os: string;
  variant?: string;
  /** For an index: every child. The other fields then describe the default child. */
  platforms?: IndexChild[];
}

export function indexChildren(manifest: Manifest): IndexChild[] {
  if (!isIndex(manifest.json)) return [];
  return manifest.json.manifests.map((d) => ({
    digest: d.digest,
    mediaType: d.mediaType,
    size: d.size,
    ...(d.platform ? { platform: d.platform } : {}),
  }));
}

/** Reads a config blob's JSON into an ImageConfig (pure: for unit tests and for callers holding the bytes). */
export function parseImageConfig(bytes: Buffer, reference: string): ImageConfig {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new RegistryError(reference, `malformed image config JSON (${(e as Error).message})`, { cause: e });
  }
  if (typeof json !== 'object' || json === null)
    throw new RegistryError(reference, 'image config is not an object');
  const config = (json.config ?? {}) as { Labels?: Record<string, unknown> | null };
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(config.Labels ?? {})) if (typeof v === 'string') labels[k] = v;
  return {
    ...(typeof json.created === 'string' ? { created: json.created } : {}),
    labels,
    architecture: typeof json.architecture === 'string' ? json.architecture : 'unknown',
    os: typeof json.os === 'string' ? json.os : 'unknown',
    ...(typeof json.variant === 'string' ? { variant: json.variant } : {}),
  };
}

export async function getImageConfig(
  ctx: RegistryContext,
  repository: string,
  manifest: Manifest,
): Promise<ImageConfig> {
  if (isIndex(manifest.json)) {
    const child = defaultChild(manifest.json);
    const platforms = indexChildren(manifest);
    if (!child) return { labels: {}, architecture: 'unknown', os: 'unknown', platforms };
    const childManifest = await getManifest(ctx, repository, child.digest);
    if (isIndex(childManifest.json))
      throw new RegistryError(
        describeRef(ctx.registry, repository, child.digest),
        'nested index is not supported',
      );
    return { ...(await getImageConfig(ctx, repository, childManifest)), platforms };
  }
  const digest = manifest.json.config.digest;
  const bytes = await getImageConfigBytes(ctx, repository, digest);
  return parseImageConfig(bytes, describeRef(ctx.registry, repository, digest));
}

/** The config blob's bytes (one GET), checked against its digest. */
export async function getImageConfigBytes(
  ctx: RegistryContext,
  repository: string,
  digest: string,
): Promise<Buffer> {
  const bytes = await getBlobBytes(ctx, repository, digest, CONFIG_LIMIT);
  if (digestOf(bytes, digest) !== digest)
    throw new RegistryError(
      describeRef(ctx.registry, repository, digest),
      'image config content does not match its digest',
    );
  return bytes;
}
