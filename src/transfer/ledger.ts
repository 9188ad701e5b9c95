// One run's memory of blobs at one target registry: each blob is moved at most once however many
// images share it (the second image waits for the first transfer and then mounts or finds it),
// and every repository that now holds it is remembered as a mount source.
import type { BlobOutcome } from './model.js';

export class BlobLedger {
  private readonly inFlight = new Map<string, Promise<BlobOutcome>>();
  private readonly holders = new Map<string, Set<string>>();
  private readonly answers = new Map<string, boolean>();

  /**
   * What a HEAD of `digest` in `repository` answered earlier in this run (a promotion's plan asks
   * for every blob of an image it will copy): the transfer then does not ask again. A blob found
   * is also a mount source for other repositories.
   */
  observed(repository: string, digest: string, present: boolean): void {
    this.answers.set(`${repository}@${digest}`, present);
    if (present) this.hold(digest, repository);
  }

  /** The earlier answer for (repository, digest), if there was one. */
  presence(repository: string, digest: string): boolean | undefined {
    return this.answers.get(`${repository}@${digest}`);
  }

  /** Repositories of the target known to hold `digest`. */
  holdersOf(digest: string): string[] {
    return [...(this.holders.get(digest) ?? [])];
  }

  /** Records that `repository` holds `digest` (uploaded, mounted, found, or the source's own repository). */
  hold(digest: string, repository: string): void {
    const set = this.holders.get(digest) ?? new Set<string>();
    set.add(repository);
    this.holders.set(digest, set);
  }

  /**
   * Runs `work` once per (repository, digest); concurrent callers for the same pair share it. When
   * the same blob is on its way into another repository, `work` starts after that transfer (so it
   * can mount instead of sending the bytes again). A failed transfer is forgotten, so a later
   * image may try again.
   */
  once(repository: string, digest: string, work: () => Promise<BlobOutcome>): Promise<BlobOutcome> {
    const key = `${repository}@${digest}`;
    const existing = this.inFlight.get(key);
    if (existing) return existing.then((o) => (o.how === 'uploaded' ? { how: 'present' } : o));
    // Looked up and registered in the same synchronous step: two images cannot both miss each other.
    const earlier = this.pendingElsewhere(digest, repository);
    const running = (earlier ? earlier.catch(() => undefined).then(work) : work()).then(
      (outcome) => {
        this.hold(digest, repository);
        return outcome;
      },
      (e) => {
        this.inFlight.delete(key);
        throw e;
      },
    );
    this.inFlight.set(key, running);
    return running;
  }

  private pendingElsewhere(digest: string, except: string): Promise<BlobOutcome> | undefined {
    for (const [key, running] of this.inFlight) {
      if (key.endsWith(`@${digest}`) && !key.startsWith(`${except}@`)) return running;
    }
    return undefined;
  }
}
