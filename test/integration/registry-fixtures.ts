// Shared by the registry integration tests: images pushed by the client itself (random blobs,
// real manifests), images built by the real engine and pushed by it, and skopeo as the
// independent witness of what the registry holds.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RegistryClient } from '../../src/registry/client.js';
import { OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST } from '../../src/registry/media-types.js';
import { docker } from '../support/engine.js';

export function sha256(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export interface PushedImage {
  digest: string;
  manifest: Buffer;
  config: { digest: string; bytes: Buffer };
  layers: { digest: string; bytes: Buffer }[];
}

export function imageParts(options: {
  layerSizes?: number[];
  labels?: Record<string, string>;
  created?: string;
  architecture?: string;
}): Omit<PushedImage, 'digest'> {
  const layers = (options.layerSizes ?? [1024]).map((size) => {
    const bytes = randomBytes(size);
    return { digest: sha256(bytes), bytes };
  });
  const config = Buffer.from(
    JSON.stringify({
      created: options.created ?? '2025-01-02T03:04:05Z',
      architecture: options.architecture ?? 'amd64',
      os: 'linux',
      config: { Labels: options.labels ?? {} },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    }),
  );
  const configDesc = { mediaType: OCI_CONFIG, digest: sha256(config), size: config.length };
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: configDesc,
      layers: layers.map((l) => ({ mediaType: OCI_LAYER, digest: l.digest, size: l.bytes.length })),
    }),
  );
  return { manifest, config: { digest: configDesc.digest, bytes: config }, layers };
}

/** Uploads blobs and manifest through the client: an image without any engine. */
export async function pushImage(
  client: RegistryClient,
  repository: string,
  tag: string,
  options: Parameters<typeof imageParts>[0] = {},
): Promise<PushedImage> {
  const parts = imageParts(options);
  for (const blob of [parts.config, ...parts.layers])
    await client.uploadBlob(repository, blob.digest, blob.bytes, blob.bytes.length);
  const digest = await client.putManifest(repository, tag, parts.manifest, OCI_MANIFEST);
  return { digest, ...parts };
}

/** Pushes two images and an OCI index over them (amd64 + arm64). */
export async function pushIndex(client: RegistryClient, repository: string, tag: string) {
  const amd64 = await pushImage(client, repository, 'amd64-only', {
    architecture: 'amd64',
    labels: { arch: 'amd64' },
  });
  const arm64 = await pushImage(client, repository, 'arm64-only', {
    architecture: 'arm64',
    labels: { arch: 'arm64' },
  });
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          mediaType: OCI_MANIFEST,
          digest: amd64.digest,
          size: amd64.manifest.length,
          platform: { os: 'linux', architecture: 'amd64' },
        },
        {
          mediaType: OCI_MANIFEST,
          digest: arm64.digest,
          size: arm64.manifest.length,
          platform: { os: 'linux', architecture: 'arm64' },
        },
      ],
    }),
  );
  const digest = await client.putManifest(repository, tag, index, OCI_INDEX);
  return { digest, index, children: [amd64, arm64] };
}

/** `FROM scratch` + busybox, built by the real engine and pushed by it. */
export function buildAndPushBusybox(ref: string, label: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'arbor-busybox-'));
  execFileSync('cp', ['/bin/busybox', join(dir, 'busybox')]);
  writeFileSync(
    join(dir, 'Dockerfile'),
    `FROM scratch\nCOPY busybox /bin/busybox\nLABEL org.arbor.test="${label}"\nCMD ["/bin/busybox","sh"]\n`,
  );
  // BuildKit: the classic builder's cache lookup fails when another test file removes an image at
  // that moment (arbor's own builder retries that; this fixture has no reason to use it).
  try {
    docker(['build', '--network=none', '-q', '-t', ref, dir], { env: { DOCKER_BUILDKIT: '1' } });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  docker(['push', ref]);
}

export function skopeo(args: string[]): string {
  return execFileSync('skopeo', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function skopeoInspect(ref: string, ...flags: string[]): Record<string, unknown> {
  return JSON.parse(skopeo(['inspect', '--tls-verify=false', ...flags, `docker://${ref}`]));
}

export function skopeoTags(repo: string): string[] {
  return (JSON.parse(skopeo(['list-tags', '--tls-verify=false', `docker://${repo}`])) as { Tags: string[] })
    .Tags;
}

/** Blob upload requests the registry saw (its access log), for "no blob moved" checks. */
export function blobUploadRequests(log: string): number {
  return log.split('\n').filter((l) => /"(POST|PATCH|PUT) [^"]*\/blobs\/uploads\//.test(l)).length;
}
