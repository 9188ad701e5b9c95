// The real Docker engine. Tests that build images call requireEngine() first: when the engine
// is missing they fail with the command that fixes it (never a silent skip).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { buffer } from 'node:stream/consumers';
import { pack } from 'tar-stream';

/** docker.io's own client matches its 20.10 daemon; a newer client on PATH may insist on buildx. */
export const DOCKER =
  process.env.ARBOR_DOCKER ?? (existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker');

export function requireEngine(): void {
  try {
    execFileSync(DOCKER, ['info', '--format', '{{.ServerVersion}}'], { stdio: 'pipe' });
  } catch {
    throw new Error('no Docker engine reachable: run scripts/setup-host.sh first');
  }
}

export function docker(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  return execFileSync(DOCKER, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
}

/**
 * Loads `count` parentless images tagged `name:0…count-1` in one `docker load` (one shared,
 * one-file layer; each config differs by a label). Many parentless images make the classic
 * builder's cache lookup after `FROM scratch` long, as on a busy CI host.
 */
export async function loadParentlessImages(name: string, count: number): Promise<string[]> {
  const layer = await tarOf([{ name: 'f', body: Buffer.from(name) }]);
  const diffId = `sha256:${createHash('sha256').update(layer).digest('hex')}`;
  const entries = [{ name: 'layer.tar', body: layer }];
  const manifest: { Config: string; RepoTags: string[]; Layers: string[] }[] = [];
  for (let n = 0; n < count; n++) {
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Labels: { 'org.arbor.test.n': String(n) } },
        rootfs: { type: 'layers', diff_ids: [diffId] },
        history: [{ created: '2020-01-01T00:00:00Z', created_by: 'arbor test' }],
      }),
    );
    const file = `${createHash('sha256').update(config).digest('hex')}.json`;
    entries.push({ name: file, body: config });
    manifest.push({ Config: file, RepoTags: [`${name}:${n}`], Layers: ['layer.tar'] });
  }
  entries.push({ name: 'manifest.json', body: Buffer.from(JSON.stringify(manifest)) });
  execFileSync(DOCKER, ['load', '-q'], { input: await tarOf(entries), stdio: ['pipe', 'ignore', 'pipe'] });
  return manifest.map((m) => m.RepoTags[0]!);
}

/** A tar archive in memory, for small fixtures. */
async function tarOf(files: { name: string; body: Buffer }[]): Promise<Buffer> {
  const archive = pack();
  for (const file of files)
    archive.entry({ name: file.name, size: file.body.length, mode: 0o644 }, file.body);
  archive.finalize();
  return buffer(archive);
}
