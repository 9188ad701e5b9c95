// Shared by the retention integration tests: a config tree on disk naming a real loopback
// registry, and images pushed with chosen (faked) creation times, single- or multi-arch.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RegistryClient } from '../../src/registry/client.js';
import { OCI_INDEX, OCI_MANIFEST } from '../../src/registry/media-types.js';
import { imageParts, pushImage } from './registry-fixtures.js';

export function day(n: number): string {
  return new Date(Date.UTC(2024, 0, 1) + n * 86_400_000).toISOString();
}

/** images.yaml with images `app` and `multi` (FROM scratch) and the given retention YAML. */
export async function writeConfig(
  registryHost: string,
  retentionYaml: string,
  extra = '',
): Promise<{ dir: string; file: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'arbor-retention-'));
  await writeFile(join(dir, 'Dockerfile'), 'FROM scratch\n');
  const file = join(dir, 'images.yaml');
  await writeFile(
    file,
    [
      'version: 1',
      'registry:',
      `  url: "${registryHost}"`,
      '  namespace: ns',
      '  insecure: true',
      'tags: ["release"]',
      'images:',
      '  app:',
      '    from: scratch',
      '    dockerfile: Dockerfile',
      '  multi:',
      '    from: scratch',
      '    dockerfile: Dockerfile',
      extra,
      'retention:',
      retentionYaml,
      '',
    ].join('\n'),
  );
  return { dir, file, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** An image tagged `tag`, created on `created`; more tags by manifest copy. */
export async function pushVersion(
  client: RegistryClient,
  repository: string,
  tags: string[],
  created: string,
): Promise<string> {
  const [first, ...rest] = tags;
  const image = await pushImage(client, repository, first!, { created, layerSizes: [2048] });
  for (const tag of rest) await client.tagManifest(repository, image.digest, tag);
  return image.digest;
}

/** A two-platform index under `tag` whose children are pushed by digest only (untagged). */
export async function pushMultiArch(
  client: RegistryClient,
  repository: string,
  tag: string,
  created: string,
) {
  const children: string[] = [];
  const descriptors = [];
  for (const architecture of ['amd64', 'arm64']) {
    const parts = imageParts({ created, architecture, layerSizes: [1024] });
    for (const blob of [parts.config, ...parts.layers])
      await client.uploadBlob(repository, blob.digest, blob.bytes, blob.bytes.length);
    const digest = await client.putManifest(
      repository,
      `sha256:${(await import('node:crypto')).createHash('sha256').update(parts.manifest).digest('hex')}`,
      parts.manifest,
      OCI_MANIFEST,
    );
    children.push(digest);
    descriptors.push({
      mediaType: OCI_MANIFEST,
      digest,
      size: parts.manifest.length,
      platform: { os: 'linux', architecture },
    });
  }
  const index = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: descriptors }),
  );
  const digest = await client.putManifest(repository, tag, index, OCI_INDEX);
  return { digest, children };
}
