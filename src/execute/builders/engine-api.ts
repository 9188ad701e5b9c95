// `docker save` without the docker CLI: the archive straight from the Engine API on its unix
// socket (`GET /images/get`). One process less per exported image — and a spawn blocks arbor's
// event loop until the child has exec'd, which takes long on a machine busy building — and one
// copy less of every byte (CLI → pipe → arbor). Only for the local default engine: with
// DOCKER_HOST naming another transport, a docker context chosen, or ARBOR_DOCKER / a configured
// docker binary, the CLI exports (it knows contexts, TLS and ssh).
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { Agent, request } from '../../registry/transport/undici.js';

const DEFAULT_SOCKET = '/var/run/docker.sock';

/** The unix socket of the local default engine, or null when the CLI must be asked instead. */
export function localEngineSocket(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.ARBOR_DOCKER) return null;
  if (env.DOCKER_CONTEXT && env.DOCKER_CONTEXT !== 'default') return null;
  const host = env.DOCKER_HOST;
  if (host) return host.startsWith('unix://') ? host.slice('unix://'.length) : null;
  if (currentContext(env) !== 'default') return null;
  return existsSync(DEFAULT_SOCKET) ? DEFAULT_SOCKET : null;
}

/** `currentContext` of the CLI's config.json (DOCKER_CONFIG or ~/.docker), `default` when unset. */
function currentContext(env: NodeJS.ProcessEnv): string {
  const dir = env.DOCKER_CONFIG || join(homedir(), '.docker');
  try {
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { currentContext?: unknown };
    return typeof config.currentContext === 'string' && config.currentContext !== ''
      ? config.currentContext
      : 'default';
  } catch {
    return 'default';
  }
}

/** The engine answered, but not with the archive (no such image, …): its own message. */
export class EngineApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'EngineApiError';
  }
}

export interface SavedArchive {
  stream: Readable;
  /** Releases the connection; call once the stream was read (or abandoned). */
  close(): Promise<void>;
}

/** `docker save REF` as the engine streams it. */
export async function engineSave(socket: string, ref: string, signal?: AbortSignal): Promise<SavedArchive> {
  // One connection per archive: nothing stays open to keep the process alive afterwards.
  const agent = new Agent({ connect: { socketPath: socket } });
  try {
    const response = await request(`http://docker/images/get?names=${encodeURIComponent(ref)}`, {
      dispatcher: agent,
      method: 'GET',
      ...(signal ? { signal } : {}),
    });
    if (response.statusCode !== 200) {
      const text = (await response.body.text()).trim();
      let message = text;
      try {
        message = String((JSON.parse(text) as { message?: unknown }).message ?? text);
      } catch {
        // not JSON: the text as it came
      }
      throw new EngineApiError(response.statusCode, message || `HTTP ${response.statusCode}`);
    }
    return { stream: response.body, close: () => agent.close() };
  } catch (e) {
    await agent.destroy().catch(() => {});
    throw e;
  }
}
