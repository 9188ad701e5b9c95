// How retention's deletions and their results read, in `arbor retention` and `arbor apply` alike.
import type { PlannedDeletion } from '../plan/model.js';
import type { ApplyRetentionResult, DeletionResult, VanishedTag } from './apply.js';
import { formatBytes } from './usage.js';

export function describeDeletion(d: PlannedDeletion): string {
  const at = `${d.repository}@${d.digest.slice(0, 19)}`;
  if (d.tag !== null) return `tag ${d.repository}:${d.tag} (digest ${d.digest.slice(0, 19)} stays)`;
  return `${at} ${d.tags.length > 0 ? `tags ${d.tags.join(', ')}` : '(untagged)'}`;
}

export function describeResult(r: DeletionResult): string {
  const verb = { deleted: 'deleted', 'already-gone': 'already gone', aborted: 'ABORTED', skipped: 'skipped' }[
    r.status
  ];
  return `  ${verb}: ${describeDeletion(r.deletion)}${r.detail ? ` — ${r.detail}` : ''}`;
}

/** The closing lines of a retention apply: counts, and where the bytes really come free. */
export function resultSummary(applied: ApplyRetentionResult, options: { dockerHub: boolean }): string[] {
  const count = (s: DeletionResult['status']) => applied.results.filter((r) => r.status === s).length;
  const failed = retentionFailures(applied);
  const changed = count('aborted') - failed;
  const aborted =
    failed === 0
      ? `${changed} aborted (changed since the plan)`
      : `${changed + failed} aborted (${changed} changed since the plan, ${failed} by registry errors: run it again)`;
  const lines = [
    `Retention: ${count('deleted')} deleted, ${count('already-gone')} already gone, ${aborted}, ${count('skipped')} skipped.`,
  ];
  for (const v of applied.vanished) lines.push(vanishedWarning(v));
  if (count('deleted') > 0 && !options.dockerHub)
    lines.push(
      `${formatBytes(applied.bytesFreed)} become free when the registry collects garbage; on CNCF distribution stop writes and run \`docker-registry garbage-collect CONFIG.yml\` (or \`registry garbage-collect\`).`,
    );
  return lines;
}

/**
 * A tag gone while retention ran although its digest remains: moved onto a digest retention
 * deleted after that digest's last check (the window a registry without compare-and-swap leaves
 * open), or deleted by someone else.
 */
export function vanishedWarning(v: VanishedTag): string {
  return `warning: tag ${v.repository}:${v.tag} disappeared while retention ran, although ${v.lastSeenOn.slice(0, 19)} (where it was last seen) remains: someone deleted it, or moved it onto a digest deleted here after its last check; push it again if it is still wanted`;
}

/** Deletions the registry's errors stopped (nothing changed: a rerun may make them); the run then exits 1. */
export function retentionFailures(applied: ApplyRetentionResult): number {
  return applied.results.filter((r) => r.status === 'aborted' && r.failed).length;
}
