// A client for one registry from command-line flags, with docker's credentials, for commands
// that are not driven by an images.yaml (`arbor ls`, `arbor inspect`).
import { createAuthenticator } from './auth/index.js';
import { createRegistryClient, type RegistryClient } from './client.js';

export interface OpenRegistryOptions {
  registry: string;
  insecure?: boolean;
  caFile?: string;
  debug?: (line: string) => void;
}

export interface OpenRegistry {
  client: RegistryClient;
  close(): Promise<void>;
}

export function openRegistry(options: OpenRegistryOptions): OpenRegistry {
  const authenticator = createAuthenticator({
    ...(options.caFile ? { caFile: options.caFile } : {}),
    ...(options.insecure ? { insecure: true } : {}),
    ...(options.debug ? { debug: options.debug } : {}),
  });
  const client = createRegistryClient({
    registry: options.registry,
    authenticator,
    ...(options.insecure ? { insecure: true } : {}),
    ...(options.caFile ? { caFile: options.caFile } : {}),
    ...(options.debug ? { debug: options.debug } : {}),
  });
  return {
    client,
    async close() {
      await Promise.all([client.close(), authenticator.close()]);
    },
  };
}
