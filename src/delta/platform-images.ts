// An image or an index, as the single-platform images whose layers get deltas: each with its
// manifest descriptor (the artifact's subject), layers, Dockerfile steps and platform. A delta is
// about one image's layer, so an index's children are paired with the old index's children of the
// same platform.
import type { RegistryClient } from '../registry/client.js';
import { getImageConfigBytes } from '../registry/config-blob.js';
import { describeRef } from '../registry/context.js';
import { RegistryError } from '../registry/errors.js';
import { type Descriptor, isIndex, type Manifest } from '../registry/manifest-model.js';
import { layerCommands } from './correspond.js';

export interface PlatformImage {
  /** `linux/amd64` (`/v8` with a variant). */
  platform: string;
  subject: Descriptor;
  layers: Descriptor[];
  commands?: (string | undefined)[];
}

function platformOf(config: Record<string, unknown>): string {
  const part = (key: string) => (typeof config[key] === 'string' ? (config[key] as string) : 'unknown');
  const variant = typeof config.variant === 'string' ? `/${config.variant}` : '';
  return `${part('os')}/${part('architecture')}${variant}`;
}

async function single(
  client: RegistryClient,
  repository: string,
  manifest: Manifest,
): Promise<PlatformImage> {
  if (isIndex(manifest.json))
    throw new RegistryError(describeRef(client.registry, repository, manifest.digest), 'nested index');
  const json = manifest.json;
  const bytes = await getImageConfigBytes(client.context, repository, json.config.digest);
  let config: Record<string, unknown> = {};
  try {
    config = JSON.parse(bytes.toString('utf8'));
  } catch {
    // A config that is not JSON only costs the Dockerfile-step pairing; position and size remain.
  }
  const commands = layerCommands(config, json.layers.length);
  return {
    platform: platformOf(config),
    subject: { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.bytes.length },
    layers: json.layers,
    ...(commands ? { commands } : {}),
  };
}

/** The images of `manifest`: itself, or an index's children (attestation entries left out). */
export async function platformImages(
  client: RegistryClient,
  repository: string,
  manifest: Manifest,
): Promise<PlatformImage[]> {
  if (!isIndex(manifest.json)) return [await single(client, repository, manifest)];
  const children = manifest.json.manifests.filter((d) => d.platform?.architecture !== 'unknown');
  const images: PlatformImage[] = [];
  for (const child of children)
    images.push(await single(client, repository, await client.getManifest(repository, child.digest)));
  return images;
}
