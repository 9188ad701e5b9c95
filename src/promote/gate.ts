// The gate a release must pass before it goes to a target: a command (the release record on
// stdin and in $ARBOR_RELEASE_FILE), and/or a tag or labels every image must carry at the source.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import type { PromoteTarget } from '../config/model.js';
import type { RegistryClient } from '../registry/client.js';
import type { ReleaseImage, ReleaseRecord } from '../release/record.js';
import { serializeRecord } from '../release/record.js';
import { tagMatches } from '../retention/patterns.js';
import type { SourceManifests } from '../transfer/source-manifests.js';

export interface GateResult {
  passed: boolean;
  detail: string;
}

export async function runGate(
  target: PromoteTarget,
  record: ReleaseRecord,
  source: SourceManifests,
  cwd: string,
): Promise<GateResult | undefined> {
  const gate = target.gate;
  if (!gate) return undefined;
  const failures: string[] = [];
  if (gate.requireTag)
    failures.push(...(await missingRequiredTag(source.client, record.images, gate.requireTag)));
  if (gate.requireLabels) failures.push(...(await missingLabels(source, record.images, gate.requireLabels)));
  if (gate.command) {
    const outcome = await runCommand(gate.command, target, record, cwd);
    if (outcome) failures.push(outcome);
  }
  return failures.length === 0
    ? { passed: true, detail: 'passed' }
    : { passed: false, detail: failures.join('; ') };
}

async function runCommand(command: string, target: PromoteTarget, record: ReleaseRecord, cwd: string) {
  const dir = await mkdtemp(join(tmpdir(), 'arbor-gate-'));
  const file = join(dir, 'release.json');
  const bytes = serializeRecord(record);
  await writeFile(file, bytes);
  try {
    // Loaded here: most targets have no gate command, and execa is a large module to compile.
    const { execa } = await import('execa');
    const result = await execa('sh', ['-c', command], {
      cwd,
      input: bytes,
      reject: false,
      all: true,
      env: {
        ARBOR_RELEASE: record.release,
        ARBOR_RELEASE_FILE: file,
        ARBOR_TARGET: target.name,
        ARBOR_TARGET_REGISTRY: target.registry.url,
      },
    });
    if (result.exitCode === 0) return undefined;
    const last = (result.all ?? '').trim().split('\n').at(-1)?.slice(0, 300);
    return `command exited with ${result.exitCode ?? result.signal}${last ? `: ${last}` : ''}`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function missingRequiredTag(client: RegistryClient, images: readonly ReleaseImage[], pattern: string) {
  const limit = pLimit(8);
  const missing = await Promise.all(
    images.map((image) =>
      limit(async () => {
        const candidates = (await client.listTags(image.repository)).filter((t) => tagMatches(pattern, t));
        for (const tag of candidates)
          if ((await client.headManifest(image.repository, tag))?.digest === image.digest) return null;
        return image.name;
      }),
    ),
  );
  const names = missing.filter((n): n is string => n !== null);
  return names.length > 0 ? [`no tag matching ${pattern} on ${names.join(', ')}`] : [];
}

async function missingLabels(
  source: SourceManifests,
  images: readonly ReleaseImage[],
  wanted: Record<string, string>,
) {
  const limit = pLimit(8);
  const problems = await Promise.all(
    images.map((image) =>
      limit(async () => {
        const manifest = await source.get(image.repository, image.digest);
        const config = await source.client.getImageConfig(image.repository, manifest);
        const wrong = Object.entries(wanted).filter(([k, v]) => config.labels[k] !== v);
        return wrong.length > 0
          ? `${image.name} lacks ${wrong.map(([k, v]) => `${k}=${v}`).join(', ')}`
          : null;
      }),
    ),
  );
  return problems.filter((p): p is string => p !== null);
}
