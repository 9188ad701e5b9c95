// One registry client per (host, TLS settings) for a command that reads images named in many
// ways (references, recipes, trees, bundles), each opened on first use with docker's
// credentials, all closed together.
import type { RegistryClient } from '../registry/client.js';
import { type OpenRegistry, openRegistry } from '../registry/open.js';

export interface RegistrySettings {
  /** The host the client talks to. */
  endpoint: string;
  insecure: boolean;
  caFile?: string;
}

export class RegistrySessions {
  private readonly sessions = new Map<string, OpenRegistry>();

  constructor(private readonly debug?: (line: string) => void) {}

  client(settings: RegistrySettings): RegistryClient {
    const key = `${settings.endpoint} ${settings.insecure} ${settings.caFile ?? ''}`;
    let session = this.sessions.get(key);
    if (!session) {
      session = openRegistry({
        registry: settings.endpoint,
        ...(settings.insecure ? { insecure: true } : {}),
        ...(settings.caFile ? { caFile: settings.caFile } : {}),
        ...(this.debug ? { debug: this.debug } : {}),
      });
      this.sessions.set(key, session);
    }
    return session.client;
  }

  async close(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => s.close()));
  }
}
