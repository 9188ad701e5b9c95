// How a promotion plan reads: one block per target, one line per image that changes, its
// reasons indented, and a summary; problems first, because they stop the promotion.
import { formatBytes } from '../format-bytes.js';
import type { PromotePlan, PullBudget } from './model.js';

export function renderPromoteText(plan: PromotePlan): string {
  const lines: string[] = [
    `Release ${plan.release.name} (${plan.release.registry}/${plan.release.repository})`,
  ];
  if (plan.source) {
    for (const p of plan.source.problems) lines.push(`  ! ${p}`);
    lines.push(`  source ${budgetLine(plan.source.budget, 'more ')}`);
  }
  for (const t of plan.targets) {
    lines.push('', `→ ${t.target} (${t.registry}${t.namespace ? `/${t.namespace}` : ''})`);
    for (const p of t.problems) lines.push(`  ! ${p}`);
    // A failed gate's detail is one of the problems above.
    if (t.gate) lines.push(`  gate: ${t.gate.passed ? 'passed' : 'failed'}`);
    if (t.budget) lines.push(`  ${budgetLine(t.budget)}`);
    const width = Math.max(0, ...t.images.map((i) => i.name.length));
    for (const image of t.images) {
      if (image.action === 'none') {
        // Unchanged, but artifacts referring to it came since it was promoted.
        if (image.referrersMissing)
          lines.push(
            `  + refer ${image.name.padEnd(width)}  ${image.referrersMissing} artifact(s)`,
            ...image.reasons.map((reason) => `      ${reason}`),
          );
        continue;
      }
      const sign = image.action === 'copy' ? '+' : '~';
      const what =
        image.action === 'copy'
          ? `copy ${image.name.padEnd(width)}  ${image.blobsMissing} blob(s), ${formatBytes(image.bytesMissing)}; tags ${image.tagsToWrite.join(', ')}`
          : `tag  ${image.name.padEnd(width)}  + ${image.tagsToWrite.join(', ')}`;
      lines.push(`  ${sign} ${what}`);
      for (const reason of image.reasons) lines.push(`      ${reason}`);
    }
    const s = t.summary;
    if (t.recordMissing)
      lines.push(
        t.recordOther
          ? `  + record: ${t.target} holds another record under this release's name: written over`
          : `  + record: the release record is not at ${t.target} yet`,
      );
    if (t.publishesNothing)
      lines.push(`  nothing is published at ${t.target}: its tags: select none of this release's tags`);
    // What the target's retention deletes after the flip, as `arbor plan` shows the tree's.
    for (const d of t.retention ?? []) {
      const what = d.tag ? `tag ${d.repository}:${d.tag}` : `${d.repository}@${d.digest.slice(0, 19)}`;
      const tags = d.tag ? '' : ` (${d.tags.length > 0 ? d.tags.join(', ') : 'untagged'})`;
      lines.push(`  - delete ${what}${tags}, ${formatBytes(d.bytesFreed)} freed`, `      ${d.reason}`);
    }
    lines.push(
      `  ${t.target}: ${s.copy} to copy (${s.blobs} blob(s), ${formatBytes(s.bytes)}), ${s.tag} to tag, ${s.none} unchanged${s.delete ? `, ${s.delete} to delete by its retention` : ''}.`,
    );
  }
  return `${lines.join('\n')}\n`;
}

function budgetLine(budget: PullBudget, more = ''): string {
  return `pull budget: ${budget.remaining}${budget.limit !== undefined ? ` of ${budget.limit}` : ''} remaining; this promotion reads ${budget.needed} ${more}manifest(s)`;
}
