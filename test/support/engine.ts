// The real Docker engine. Tests that build images call requireEngine() first: when the engine
// is missing they fail with the command that fixes it (never a silent skip).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

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
