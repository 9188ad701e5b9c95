// Why a layer cannot be rebuilt from a delta. Each is a value the caller turns into a whole-blob
// transfer of that layer, with the reason in its plan or report; none of them is fatal to a sync.

export type DeltaUnusableReason =
  /** The old layer the delta is against is not at the target (or not where it was said to be). */
  | 'base-missing'
  /** The old layer at the target is not the one the delta was computed against. */
  | 'base-mismatch'
  /** The delta blob does not match its digest, or zstd could not decode it. */
  | 'delta-corrupt'
  /** The artifact's manifest or config is not a layer delta arbor can read. */
  | 'malformed'
  /** Another encoding, compressor, or a window beyond the memory allowed here. */
  | 'unsupported'
  /** The rebuilt layer's diffID, digest or size is not the manifest's. */
  | 'mismatch';

export class DeltaUnusable extends Error {
  readonly reason: DeltaUnusableReason;

  constructor(reason: DeltaUnusableReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DeltaUnusable';
    this.reason = reason;
  }
}
