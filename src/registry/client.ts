// The registry client: one composed transport per registry (pool → user agent → rate limit →
// debug log → auth → retry), and every operation a short function on top (one file each).
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Authenticator } from './auth/types.js';
import {
  type BlobSource,
  type BlobStream,
  getBlob,
  headBlob,
  type UploadOptions,
  uploadBlob,
} from './blobs.js';
import { getImageConfig, type ImageConfig } from './config-blob.js';
import type { RegistryContext } from './context.js';
import { type DeleteOptions, type DeleteResult, deleteManifest, deleteTag } from './delete.js';
import { RegistryError } from './errors.js';
import { getManifest, headManifest, putManifest, tagManifest } from './manifest.js';
import type { Manifest, ManifestHead } from './manifest-model.js';
import { type MountResult, mountBlob } from './mount.js';
import { DOCKER_HUB, DOCKER_HUB_API, registryProblem } from './reference.js';
import { type Referrers, referrers } from './referrers.js';
import { type ListTagsOptions, listTags } from './tags.js';
import { authLayer } from './transport/auth.js';
import { type Availability, availabilityLayer } from './transport/availability.js';
import { type BackoffPolicy, DEFAULT_BACKOFF } from './transport/backoff.js';
import { debugLayer } from './transport/debug-log.js';
import { Pools, poolSend, type TransportStats } from './transport/pools.js';
import { type RateLimit, rateLimitLayer } from './transport/rate-limit.js';
import { retryLayer } from './transport/retry.js';
import type { Layer, Send } from './transport/types.js';
import { userAgentLayer } from './transport/user-agent.js';

export interface RegistryClientOptions {
  /** `host[:port]` */
  registry: string;
  /** Plain HTTP. Only when asked for: TLS is the default. */
  insecure?: boolean;
  /** A PEM CA file trusted in addition to the system roots. */
  caFile?: string;
  /** Without one, requests go out anonymous and a 401 is final. */
  authenticator?: Authenticator;
  /** Connections to the registry (default 8). */
  maxConnections?: number;
  /**
   * HEAD requests sent ahead on one connection before its first answer (HTTP/1.1 pipelining,
   * default 8; 1 turns it off). Only HEADs are pipelined: every other request waits for the
   * connection, so a blob transfer never holds a HEAD up and an upload is never pipelined.
   */
  headPipelining?: number;
  /** Per request: time to the response headers, and longest pause in a body (default 30 s). */
  timeoutMs?: number;
  /** Extra attempts for idempotent requests and upload sessions (default 8: a registry answering a fifth of the requests 429/503 still fails one in 2.6 million). */
  retries?: number;
  /** Called with one line per HTTP exchange (secrets already redacted). */
  debug?: (line: string) => void;
  /** Blobs bigger than this are uploaded in chunks of this size (default 16 MiB). */
  chunkSize?: number;
  /** Backoff timings (tests shorten them). */
  backoff?: Partial<BackoffPolicy>;
  /**
   * How long the registry may be unreachable before every request fails at once (default:
   * `ARBOR_REGISTRY_OUTAGE_SECONDS`, else 60 s). Meanwhile requests wait for it to come back.
   */
  outageBudgetMs?: number;
}

export interface RegistryClient {
  readonly registry: string;
  readonly baseUrl: URL;
  /** Blob bytes the registry accepted from this client so far. */
  readonly bytesUploaded: number;
  /** The last pull budget the registry announced (`ratelimit-remaining`), if any. */
  readonly rateLimit: RateLimit | undefined;
  /** Requests sent and connections opened so far. */
  readonly stats: Readonly<TransportStats>;
  /** For operations composed outside this file (copyImage). */
  readonly context: RegistryContext;
  /** Whether the registry is reachable, as the circuit breaker last saw it. */
  readonly availability: Availability;

  /** `expected`: sent as If-None-Match (see registry/manifest.ts); returned when the registry confirms it. */
  headManifest(
    repository: string,
    tagOrDigest: string,
    expected?: ManifestHead,
  ): Promise<ManifestHead | null>;
  getManifest(repository: string, tagOrDigest: string): Promise<Manifest>;
  getImageConfig(repository: string, manifest: Manifest): Promise<ImageConfig>;
  listTags(repository: string, options?: ListTagsOptions): Promise<string[]>;
  putManifest(repository: string, tagOrDigest: string, bytes: Buffer, mediaType: string): Promise<string>;
  tagManifest(repository: string, source: string, newTag: string): Promise<string>;
  headBlob(repository: string, digest: string): Promise<{ size: number } | null>;
  /** `offset`: the bytes from there on (Range); `buffer`: read a small blob whole (a cut body is retried). */
  getBlob(
    repository: string,
    digest: string,
    options?: { offset?: number; buffer?: number },
  ): Promise<BlobStream>;
  uploadBlob(
    repository: string,
    digest: string,
    source: BlobSource | Readable,
    size: number,
    options?: UploadOptions,
  ): Promise<number>;
  mountBlob(repository: string, digest: string, fromRepository: string): Promise<MountResult>;
  deleteManifest(repository: string, digest: string, options?: DeleteOptions): Promise<DeleteResult>;
  deleteTag(repository: string, tag: string, options?: DeleteOptions): Promise<'deleted' | 'unsupported'>;
  referrers(repository: string, digest: string, options?: { artifactType?: string }): Promise<Referrers>;
  /** Waits for requests in flight, then closes; `abort` fails them instead. */
  close(options?: { abort?: boolean }): Promise<void>;
}

function readCa(registry: string, caFile: string | undefined): string | undefined {
  if (!caFile) return undefined;
  try {
    return readFileSync(caFile, 'utf8');
  } catch (e) {
    throw new RegistryError(registry, `cannot read CA file ${caFile} (${(e as NodeJS.ErrnoException).code})`);
  }
}

function defaultOutageBudgetMs(): number {
  const seconds = Number(process.env.ARBOR_REGISTRY_OUTAGE_SECONDS);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 60_000;
}

/** Outermost first: retry wraps auth wraps logging wraps … the pool. */
function compose(base: Send, layers: Layer[]): Send {
  return layers.reduceRight((next, layer) => layer(next), base);
}

export function createRegistryClient(options: RegistryClientOptions): RegistryClient {
  const problem = registryProblem(options.registry);
  if (problem) throw new RegistryError(options.registry, `invalid registry: ${problem}`);
  const host = options.registry === DOCKER_HUB ? DOCKER_HUB_API : options.registry;
  const baseUrl = new URL(`${options.insecure ? 'http' : 'https'}://${host}`);
  const extraCa = readCa(options.registry, options.caFile);
  const pools = new Pools({
    maxConnections: options.maxConnections ?? 8,
    headPipelining: options.headPipelining ?? 8,
    timeoutMs: options.timeoutMs ?? 30_000,
    ...(extraCa ? { extraCa } : {}),
  });
  const backoff: BackoffPolicy = { ...DEFAULT_BACKOFF, ...options.backoff };
  const retries = options.retries ?? 8;
  let bytesUploaded = 0;
  let rateLimit: RateLimit | undefined;

  const pool = poolSend(pools, baseUrl);
  // The probe of a registry that went away: past auth and retries (any answer means it is back).
  const ping = compose(pool, [debugLayer(baseUrl, options.debug), userAgentLayer()]);
  const { layer: breaker, availability } = availabilityLayer(
    {
      registry: options.registry,
      baseUrl,
      budgetMs: options.outageBudgetMs ?? defaultOutageBudgetMs(),
      probe: backoff,
    },
    ping,
  );
  const send = compose(pool, [
    retryLayer({ retries, policy: backoff, ...(options.debug ? { debug: options.debug } : {}) }),
    breaker,
    authLayer(options.registry, options.authenticator),
    debugLayer(baseUrl, options.debug),
    rateLimitLayer((seen) => {
      rateLimit = seen;
    }),
    userAgentLayer(),
  ]);

  const ctx: RegistryContext = {
    registry: options.registry,
    baseUrl,
    send,
    uploaded: (bytes) => {
      bytesUploaded += bytes;
    },
    chunkSize: options.chunkSize ?? 16 * 1024 * 1024,
    retries,
    backoff,
  };

  return {
    registry: options.registry,
    baseUrl,
    get bytesUploaded() {
      return bytesUploaded;
    },
    get rateLimit() {
      return rateLimit;
    },
    stats: pools.stats,
    context: ctx,
    availability,
    headManifest: (repo, ref, expected) => headManifest(ctx, repo, ref, expected),
    getManifest: (repo, ref) => getManifest(ctx, repo, ref),
    getImageConfig: (repo, manifest) => getImageConfig(ctx, repo, manifest),
    listTags: (repo, opts) => listTags(ctx, repo, opts),
    putManifest: (repo, ref, bytes, mediaType) => putManifest(ctx, repo, ref, bytes, mediaType),
    tagManifest: (repo, source, newTag) => tagManifest(ctx, repo, source, newTag),
    headBlob: (repo, digest) => headBlob(ctx, repo, digest),
    getBlob: (repo, digest, opts) => getBlob(ctx, repo, digest, opts),
    uploadBlob: (repo, digest, source, size, opts) => uploadBlob(ctx, repo, digest, source, size, opts),
    mountBlob: (repo, digest, from) => mountBlob(ctx, repo, digest, from),
    deleteManifest: (repo, digest, opts) => deleteManifest(ctx, repo, digest, opts),
    deleteTag: (repo, tag, opts) => deleteTag(ctx, repo, tag, opts),
    referrers: (repo, digest, opts) => referrers(ctx, repo, digest, opts),
    close: (options) => (options?.abort ? pools.destroy() : pools.close()),
  };
}
