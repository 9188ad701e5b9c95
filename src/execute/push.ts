// Publishing a built image: the builder pushes it under its first tag (blobs + manifest), every
// other tag is added by manifest copy (no blob moves), and the fingerprint tag goes last: it is
// what the planner asks for, so an image only looks complete once everything else is there.
import { text } from 'node:stream/consumers';
import type { RegistryClient } from '../registry/client.js';
import type { Builder } from './builders/index.js';

export interface PushRequest {
  builder: Builder;
  client: RegistryClient;
  repository: string;
  repositoryPath: string;
  tags: string[];
  fingerprintTag: string;
  insecure: boolean;
  logFile: string;
  signal?: AbortSignal;
}

export async function pushBuiltImage(
  request: PushRequest,
): Promise<{ digest: string; bytesUploaded: number | null }> {
  const [first, ...rest] = [
    ...request.tags.filter((t) => t !== request.fingerprintTag),
    request.fingerprintTag,
  ];
  const pushed = await request.builder.push(`${request.repository}:${first}`, {
    logFile: request.logFile,
    insecure: request.insecure,
    ...(request.signal ? { signal: request.signal } : {}),
  });
  for (const tag of rest) {
    request.signal?.throwIfAborted();
    await request.client.tagManifest(request.repositoryPath, pushed.digest, tag);
  }
  const bytesUploaded = pushed.uploadedLayers
    ? await layerBytes(request.client, request.repositoryPath, pushed.digest, pushed.uploadedLayers)
    : null;
  return { digest: pushed.digest, bytesUploaded };
}

/**
 * Compressed bytes of the layers the builder reported as uploaded (not "already exists", not
 * mounted). Builders name layers by diff ID (docker) or by blob digest; both are matched, by
 * prefix since docker prints 12 hex digits.
 */
async function layerBytes(
  client: RegistryClient,
  repository: string,
  digest: string,
  uploaded: string[],
): Promise<number> {
  if (uploaded.length === 0) return 0;
  const manifest = await client.getManifest(repository, digest);
  const json = manifest.json as { layers?: { digest: string; size: number }[]; config?: { digest: string } };
  const layers = json.layers ?? [];
  let diffIds: string[] = [];
  if (json.config) {
    const blob = await client.getBlob(repository, json.config.digest);
    const config = JSON.parse((await text(blob.stream)).toString()) as { rootfs?: { diff_ids?: string[] } };
    diffIds = config.rootfs?.diff_ids ?? [];
  }
  const hex = (d: string) => d.replace(/^sha256:/, '');
  const wanted = uploaded.map(hex);
  let total = 0;
  layers.forEach((layer, i) => {
    const names = [hex(layer.digest), hex(diffIds[i] ?? '')].filter(Boolean);
    if (names.some((n) => wanted.some((w) => n.startsWith(w)))) total += layer.size;
  });
  return total;
}
