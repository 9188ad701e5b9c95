// The one-line account of an apply's delta publishing. Pure: the results in, the text out.
// A layer the previous release already has needs no delta (sync sends nothing for it), so it is
// counted apart: counting it as published claimed deltas that were never made.
import { formatBytes } from '../format-bytes.js';
import type { LayerDeltaResult } from './publish.js';

export function summarizeDeltas(previousRelease: string, results: readonly LayerDeltaResult[]): string {
  const count = (o: LayerDeltaResult['outcome']) => results.filter((r) => r.outcome === o).length;
  const published = results.filter((r) => r.outcome === 'published' || r.outcome === 'reused');
  const deltaBytes = published.reduce((n, r) => n + (r.deltaSize ?? 0), 0);
  const layerBytes = published.reduce((n, r) => n + r.targetSize, 0);
  const reused = count('reused');
  const lines = [
    `Deltas against release ${previousRelease}: ${published.length} published` +
      (published.length > 0 ? ` (${formatBytes(deltaBytes)} for ${formatBytes(layerBytes)} of layers)` : '') +
      (reused > 0 ? `, ${reused} of them already there` : '') +
      `, ${count('shared')} layer(s) unchanged, ${count('declined')} declined, ${count('unpaired')} without a counterpart, ${count('failed')} failed.`,
    ...results.filter((r) => r.outcome === 'failed').map((r) => `  delta failed: ${r.reason}`),
  ];
  return lines.join('\n');
}
