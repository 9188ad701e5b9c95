// One registry client per registry host for a whole command run, so connections, tokens and
// rate-limit readings are shared by planning, resolving bases, applying and retention.
import { resolve } from 'node:path';
import type { Config, RegistryConfig } from '../config/model.js';
import { createAuthenticator } from '../registry/auth/index.js';
import type { Authenticator } from '../registry/auth/types.js';
import { createRegistryClient, type RegistryClient } from '../registry/client.js';
import { parseReference } from '../registry/reference.js';

export interface ClientsOptions {
  debug?: (line: string) => void;
  maxConnections?: number;
  /** How long a registry may be unreachable before its requests fail (the client's default else). */
  outageBudgetMs?: number;
  /** Retries of a failed request (the client's default else). */
  retries?: number;
  /** How long a request may wait for the registry's answer (the client's default else). */
  timeoutMs?: number;
}

export class RegistryClients {
  private readonly clients = new Map<string, RegistryClient>();
  private readonly authenticator: Authenticator;

  constructor(
    private readonly config: Pick<Config, 'registry' | 'root'>,
    private readonly options: ClientsOptions = {},
  ) {
    const caFile = config.registry.caFile ? resolve(config.root, config.registry.caFile) : undefined;
    // --debug shows the token exchanges too (scopes and lifetimes; tokens are redacted secrets).
    this.authenticator = createAuthenticator({
      ...(caFile ? { caFile } : {}),
      ...(options.debug ? { debug: options.debug } : {}),
    });
  }

  /** The tree's own registry (images.yaml `registry:`). */
  get home(): RegistryClient {
    return this.for(this.config.registry.url);
  }

  for(registry: string): RegistryClient {
    const own = registry === this.config.registry.url;
    return this.forRegistry(own ? this.config.registry : { url: registry, namespace: '', insecure: false });
  }

  /** A client for a registry as images.yaml describes it (a promotion target: TLS, CA file). */
  forRegistry(settings: RegistryConfig): RegistryClient {
    const registry = settings.url;
    let client = this.clients.get(registry);
    if (!client) {
      const caFile = settings.caFile ? resolve(this.config.root, settings.caFile) : undefined;
      client = createRegistryClient({
        registry,
        insecure: settings.insecure,
        ...(caFile ? { caFile } : {}),
        authenticator: this.authenticator,
        ...(this.options.maxConnections ? { maxConnections: this.options.maxConnections } : {}),
        ...(this.options.outageBudgetMs ? { outageBudgetMs: this.options.outageBudgetMs } : {}),
        ...(this.options.retries !== undefined ? { retries: this.options.retries } : {}),
        ...(this.options.timeoutMs ? { timeoutMs: this.options.timeoutMs } : {}),
        ...(this.options.debug ? { debug: this.options.debug } : {}),
      });
      this.clients.set(registry, client);
    }
    return client;
  }

  /** Digest of an external base reference, for fingerprints (`from: debian:12` → sha256:…). */
  async resolveBase(ref: string): Promise<string> {
    const parsed = parseReference(ref);
    if (parsed.digest) return parsed.digest;
    const client = this.for(parsed.registry);
    const head = await client.headManifest(parsed.repository, parsed.tag ?? 'latest');
    if (!head) throw new Error(`external base ${ref}: not found in its registry`);
    return head.digest;
  }

  async close(options: { abort?: boolean } = {}): Promise<void> {
    await Promise.all([...this.clients.values()].map((c) => c.close?.(options)));
  }
}
