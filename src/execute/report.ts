// The table apply ends with: what happened to every image that had work, and the totals.
import { formatBytes } from '../format-bytes.js';
import type { ApplyReport, ImageOutcome } from './apply.js';

/** Statuses that wrote to the registry (and so have an upload size). */
const PUBLISHED = new Set<ImageOutcome['status']>([
  'built',
  'tagged',
  'refreshed',
  'unchanged-content',
  'adopted',
]);

function detail(o: ImageOutcome): string {
  const tags = o.tagsAdded.length ? `+ ${o.tagsAdded.join(', ')}` : '';
  if (o.status !== 'unchanged-content') return tags;
  return tags ? `content unchanged, not pushed; ${tags}` : 'content unchanged, not pushed';
}

export function summaryTable(outcomes: ImageOutcome[]): string {
  const rows = outcomes.filter((o) => o.status !== 'unchanged');
  const lines: string[] = [];
  if (rows.length > 0) {
    const header = ['image', 'result', 'time', 'uploaded', 'detail'];
    const body = rows.map((o) => [
      o.name,
      o.status,
      o.ms ? `${(o.ms / 1000).toFixed(1)}s` : '',
      PUBLISHED.has(o.status) ? formatBytes(o.bytesUploaded) : '',
      o.detail ?? detail(o),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
    const line = (cells: string[]) =>
      cells
        .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
        .join('  ')
        .trimEnd();
    lines.push(line(header), ...body.map(line), '');
  }
  lines.push(totalsLine(outcomes));
  return `${lines.join('\n')}\n`;
}

export function totalsLine(outcomes: ImageOutcome[]): string {
  const count = (s: ImageOutcome['status']) => outcomes.filter((o) => o.status === s).length;
  const uploaded = outcomes.reduce<number | null>(
    (sum, o) => (sum === null || o.bytesUploaded === null ? null : sum + o.bytesUploaded),
    0,
  );
  const parts = [
    `${count('built')} built`,
    `${count('tagged')} tagged`,
    `${count('failed')} failed`,
    `${count('skipped')} skipped`,
  ];
  if (count('cancelled')) parts.push(`${count('cancelled')} cancelled`);
  // Only `apply --refresh` produces these; other applies keep their familiar totals line.
  if (count('refreshed')) parts.push(`${count('refreshed')} refreshed`);
  if (count('unchanged-content')) parts.push(`${count('unchanged-content')} content unchanged`);
  if (count('adopted')) parts.push(`${count('adopted')} taken from another apply`);
  parts.push(`${count('unchanged')} unchanged`, `${formatBytes(uploaded)} uploaded`);
  return `Apply: ${parts.join(', ')}.`;
}

/** What happened to the human tags: one burst (its window), or held back because of a failure. */
export function tagsLine(
  report: Pick<ApplyReport, 'flip' | 'tagsHeldBack' | 'registryProblem'> &
    Partial<Pick<ApplyReport, 'outcomes'>>,
  atomic: boolean,
): string | undefined {
  const lines: string[] = [];
  if (report.registryProblem) lines.push(`Registry unavailable, stopped: ${report.registryProblem}.`);
  if (report.tagsHeldBack > 0) {
    // Nothing failed when the apply was stopped (Ctrl-C, SIGTERM): its images were cancelled.
    const failed = report.outcomes?.some((o) => o.status === 'failed') ?? true;
    const why = report.registryProblem
      ? 'the registry stopped answering'
      : failed
        ? 'an image failed'
        : 'the apply was interrupted';
    lines.push(
      `Tags: none moved (${report.tagsHeldBack} held back): ${why}, and tags are written only when the whole apply succeeds. Run apply again to finish.`,
    );
  } else if (report.flip && report.flip.tags > 0)
    lines.push(
      atomic
        ? `Tags: ${report.flip.tags} written together in ${report.flip.windowMs} ms.`
        : `Tags: ${report.flip.tags} written as each image was published.`,
    );
  if (report.flip && report.flip.followed.length > 0)
    lines.push(`Tags follow another apply's images for: ${report.flip.followed.join(', ')}.`);
  return lines.length > 0 ? lines.join('\n') : undefined;
}

export function succeeded(outcomes: ImageOutcome[]): boolean {
  return outcomes.every((o) => o.status === 'unchanged' || PUBLISHED.has(o.status));
}
