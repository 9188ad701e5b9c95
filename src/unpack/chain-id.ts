// Chain IDs (OCI image spec, config.md "Layer ChainID"): the identity of the root file system
// after layers 1..n, from the uncompressed layer digests (diff_ids) alone, so the same stack of
// layers has the same chain whatever image, compression or registry it came from.
//   ChainID(L1) = DiffID(L1);  ChainID(L1..Ln) = sha256(ChainID(L1..Ln-1) + " " + DiffID(Ln))
import { createHash } from 'node:crypto';

export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const diffId of diffIds) {
    const previous = out[out.length - 1];
    out.push(
      previous === undefined
        ? diffId
        : `sha256:${createHash('sha256').update(`${previous} ${diffId}`).digest('hex')}`,
    );
  }
  return out;
}
