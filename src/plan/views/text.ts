// The terminal view of a plan: changes first, one line per image with its reasons, unchanged
// images folded into the summary unless asked for (Terraform's habit: show what will happen).
import { styleText } from 'node:util';
import { shortDigest } from '../compute.js';
import type { Plan, PlannedImage } from '../model.js';

export interface TextOptions {
  color: boolean;
  /** List unchanged images too. */
  verbose?: boolean;
}

const MARK: Record<PlannedImage['action'], string> = { build: '+', tag: '~', none: ' ' };
const COLOR = { build: 'green', tag: 'yellow', none: 'gray', delete: 'red' } as const;

export function renderText(plan: Plan, options: TextOptions): string {
  const paint = (color: (typeof COLOR)[keyof typeof COLOR], text: string) =>
    options.color ? styleText(color, text) : text;
  const lines: string[] = [];
  const shown = plan.images.filter((i) => i.action !== 'none' || options.verbose);
  const width = Math.max(0, ...shown.map((i) => i.name.length));
  for (const image of shown) {
    const head = `${MARK[image.action]} ${image.action.padEnd(5)} ${image.name.padEnd(width)}`;
    const detail =
      image.action === 'build'
        ? `→ ${image.fingerprintTag}${image.tags.length ? `, ${image.tags.join(', ')}` : ''}`
        : image.action === 'tag'
          ? `+ ${image.tagsToAdd.join(', ')}`
          : '';
    lines.push(`${paint(COLOR[image.action], head)}  ${detail}`.trimEnd());
    for (const reason of image.reasons)
      if (image.action !== 'none') lines.push(`      ${' '.repeat(width)}  ${reason}`);
  }
  for (const d of plan.deletions) {
    const what = d.tag
      ? `${d.repository}:${d.tag}`
      : `${d.repository}@${shortDigest(d.digest)} (${d.tags.join(', ') || 'untagged'})`;
    lines.push(`${paint(COLOR.delete, '- delete')} ${what}  rule ${d.rule}: ${d.reason}`);
  }
  if (plan.release)
    lines.push(
      `${paint(COLOR.build, '+ record')} release ${plan.release.name}  not in the registry (an apply stopped before writing it, or the images came another way)`,
    );
  if (lines.length > 0) lines.push('');
  lines.push(summaryLine(plan));
  return `${lines.join('\n')}\n`;
}

/** `3 to build, 1 to tag, 183 unchanged, 12 to delete` */
export function summaryLine(plan: Plan): string {
  const s = plan.summary;
  const parts = [`${s.build} to build`, `${s.tag} to tag`, `${s.none} unchanged`];
  if (s.delete > 0) parts.push(`${s.delete} to delete`);
  if (plan.release) parts.push('its release record to write');
  const changes = s.build + s.tag + s.delete + (plan.release ? 1 : 0);
  return changes === 0 ? `No changes: ${parts.join(', ')}.` : `Plan: ${parts.join(', ')}.`;
}

export function renderJson(plan: Plan): string {
  return `${JSON.stringify(plan, null, 2)}\n`;
}

export function hasChanges(plan: Plan): boolean {
  return plan.summary.build + plan.summary.tag + plan.summary.delete > 0 || plan.release !== undefined;
}
