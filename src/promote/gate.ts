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
  signal?: AbortSignal,
): Promise<GateResult | undefined> {
  const gate = target.gate;
  if (!gate) return undefined;
  const failures: string[] = [];
  if (gate.requireTag)
    failures.push(...(await missingRequiredTag(source.client, record.images, gate.requireTag)));
  if (gate.requireLabels) failures.push(...(await missingLabels(source, record.images, gate.requireLabels)));
  if (gate.command) {
    const outcome = await runCommand(gate.command, target, record, cwd, signal);
    if (outcome) failures.push(outcome);
  }
  return failures.length === 0
    ? { passed: true, detail: 'passed' }
    : { passed: false, detail: failures.join('; ') };
}

/** Of the gate's output only the end is kept: a test suite may print gigabytes before its verdict. */
const KEPT_OUTPUT_BYTES = 64 * 1024;

async function runCommand(
  command: string,
  target: PromoteTarget,
  record: ReleaseRecord,
  cwd: string,
  signal: AbortSignal | undefined,
) {
  signal?.throwIfAborted();
  const dir = await mkdtemp(join(tmpdir(), 'arbor-gate-'));
  const file = join(dir, 'release.json');
  const bytes = serializeRecord(record);
  await writeFile(file, bytes);
  try {
    // Loaded here: most targets have no gate command, and execa is a large module to compile.
    const { execa } = await import('execa');
    const child = execa('sh', ['-c', command], {
      cwd,
      input: bytes,
      reject: false,
      all: true,
      buffer: false,
      // Its own process group, so that an interrupt stops everything the gate started, not only sh.
      detached: true,
      env: {
        ARBOR_RELEASE: record.release,
        ARBOR_RELEASE_FILE: file,
        ARBOR_TARGET: target.name,
        ARBOR_TARGET_REGISTRY: target.registry.url,
      },
    });
    const tail = new OutputTail(KEPT_OUTPUT_BYTES);
    child.all?.on('data', (chunk: Buffer) => tail.push(chunk));
    const stopGroup = () => {
      if (child.pid !== undefined) killGroup(child.pid);
    };
    signal?.addEventListener('abort', stopGroup, { once: true });
    try {
      const result = await child;
      signal?.throwIfAborted();
      if (result.exitCode === 0) return undefined;
      const last = lastLine(tail.text());
      return `command exited with ${result.exitCode ?? result.signal}${last ? `: ${last}` : ''}`;
    } finally {
      signal?.removeEventListener('abort', stopGroup);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    // The group is gone already.
  }
}

/** The last bytes written to a stream, at most `limit` of them. */
class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.chunks.length > 1 && this.size - this.chunks[0]!.length >= this.limit)
      this.size -= this.chunks.shift()!.length;
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

/**
 * The last line a terminal would show of `output`: a carriage return starts the line again
 * (progress bars), colour and cursor escapes and other control characters are dropped.
 */
export function lastLine(output: string): string | undefined {
  const lines = output
    .replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]/g, '')
    .split('\n')
    .map(
      (line) =>
        line
          .split('\r')
          .filter((part) => part.trim() !== '')
          .at(-1) ?? '',
    )
    .map((line) => line.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '').trim())
    .filter((line) => line !== '');
  return lines.at(-1)?.slice(0, 300);
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
