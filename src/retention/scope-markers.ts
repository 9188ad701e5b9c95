// Retention's scope markers (registry/deletion-guard.ts, top): one in each scope it deletes in
// (`ns/arbor-deleting` for `ns/x`), up before its first look at any repository there, replaced
// with the repository markers before it nears its expiry, and down only after every repository
// marker of the run came down, so that it is up whenever one of them is. Writers then need one
// listing of it instead of one per repository.
import { performance } from 'node:perf_hooks';
import type { RegistryClient } from '../registry/client.js';
import {
  type DeletionMarker,
  lowerMarker,
  MARKER_RENEW_MS,
  raiseMarker,
  scopeMarkerRepository,
} from '../registry/deletion-guard.js';

export class ScopeMarkers {
  /** Scope marker repository → its marker (raising, or up). */
  private readonly markers = new Map<string, Promise<DeletionMarker>>();
  /** The markers that are up, by scope marker repository: what `expiresAt` reads. */
  private readonly up = new Map<string, DeletionMarker>();
  private readonly renewals = new Map<string, Promise<DeletionMarker>>();
  private readonly lowerings: Array<Promise<void>> = [];
  /** A DELETE went unanswered (it may still land): the markers stay until they expire. */
  private kept = false;

  constructor(private readonly client: RegistryClient) {}

  /** The marker covering `repository`, raised by the first repository of its scope to ask. */
  raise(repository: string): Promise<DeletionMarker> {
    const at = scopeMarkerRepository(repository);
    let marker = this.markers.get(at);
    if (!marker) {
      marker = raiseMarker(this.client, at).then((m) => {
        this.up.set(at, m);
        return m;
      });
      this.markers.set(at, marker);
    }
    return marker;
  }

  /** A fresh marker once the one covering `repository` is MARKER_RENEW_MS old; the old comes down once it is up. */
  async renew(repository: string): Promise<void> {
    const at = scopeMarkerRepository(repository);
    const current = await this.raise(repository);
    if (performance.now() - current.raisedAt < MARKER_RENEW_MS) return;
    let renewal = this.renewals.get(at);
    if (!renewal) {
      renewal = raiseMarker(this.client, at).then((fresh) => {
        this.up.set(at, fresh);
        this.markers.set(at, Promise.resolve(fresh));
        this.lowerings.push(lowerMarker(this.client, current).catch(() => undefined));
        return fresh;
      });
      renewal.finally(() => this.renewals.delete(at)).catch(() => undefined);
      this.renewals.set(at, renewal);
    }
    await renewal;
  }

  /** When the marker covering `repository` expires (ms since epoch), if one is up. */
  expiresAt(repository: string): number | undefined {
    return this.up.get(scopeMarkerRepository(repository))?.expiresAt;
  }

  /** A DELETE whose fate is open: no scope marker comes down in this run. */
  keep(): void {
    this.kept = true;
  }

  /** Call once every repository marker of the run came down. */
  async lower(): Promise<void> {
    if (!this.kept)
      for (const marker of this.up.values())
        this.lowerings.push(lowerMarker(this.client, marker).catch(() => undefined));
    await Promise.all(this.lowerings);
  }
}
