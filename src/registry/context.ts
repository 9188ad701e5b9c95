// What every registry operation needs: the composed transport and a few settings. Operations
// are plain functions of a context, so each lives in its own small file.
import type { Scope } from './auth/types.js';
import { isDigest } from './digest.js';
import type { BackoffPolicy } from './transport/backoff.js';
import type { Send } from './transport/types.js';

export interface RegistryContext {
  /** `host[:port]` as written in references. */
  registry: string;
  baseUrl: URL;
  send: Send;
  /** Called with the size of every blob body the registry accepted. */
  uploaded(bytes: number): void;
  /** Blobs bigger than this are uploaded in PATCH chunks of this size. */
  chunkSize: number;
  /** How many times an upload session is started over after a transient failure. */
  retries: number;
  backoff: BackoffPolicy;
}

/** `registry/repo`, `registry/repo:tag` or `registry/repo@sha256:…`, for error messages. */
export function describeRef(registry: string, repository: string, tagOrDigest?: string): string {
  if (tagOrDigest === undefined) return `${registry}/${repository}`;
  return `${registry}/${repository}${isDigest(tagOrDigest) ? '@' : ':'}${tagOrDigest}`;
}

export function pullScope(repository: string): Scope {
  return { repository, actions: ['pull'] };
}

export function pushScope(repository: string): Scope {
  return { repository, actions: ['pull', 'push'] };
}

export function deleteScope(repository: string): Scope {
  return { repository, actions: ['delete', 'pull'] };
}

export function repoPath(repository: string, ...rest: string[]): string {
  return `/v2/${repository}/${rest.join('/')}`;
}
