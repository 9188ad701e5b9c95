// The plan as a pull-request comment: a one-line summary, a table per action with reasons,
// retention deletions with bytes freed, and a Mermaid graph. It must fit GitHub's comment limit
// (65,536 characters), so it is written through a budget that stops at a row boundary, closes
// whatever is open (`<details>`, code fences) and says what was left out: never invalid Markdown.
import type { Plan, PlannedDeletion, PlannedImage } from '../model.js';
import { buildMermaid } from './mermaid.js';

export interface MarkdownOptions {
  /** Name of the tree in this repository; several trees each keep their own comment. */
  target?: string;
  /** Upper bound of the whole document, in UTF-16 code units (what GitHub counts). */
  maxChars?: number;
  /** Include the Mermaid graph (default true). */
  graph?: boolean;
}

export const DEFAULT_TARGET = 'default';
export const GITHUB_COMMENT_LIMIT = 65_536;
/** Sections with more rows than this fold into `<details>`. */
const FOLD_ROWS = 10;
/** Mermaid's default `maxEdges`: larger graphs render as an error box instead of a graph. */
const MERMAID_MAX_EDGES = 500;
/** Trees larger than this show unchanged subtrees as one node. */
const COLLAPSE_ABOVE = 30;
/** Room for the marker, the summary and the truncation note, which are always written. */
const MIN_CHARS = 1024;

const TARGET_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$/;

/** Why a target name is unusable in the hidden marker, or null when it is fine. */
export function targetProblem(target: string): string | null {
  return TARGET_PATTERN.test(target)
    ? null
    : `target "${target}" must be 1-100 letters, digits, ".", "_", "/" or "-", starting with a letter or digit`;
}

/** The hidden marker that finds this target's comment again: `<!-- arbor:plan target=NAME -->`. */
export function planMarker(target: string = DEFAULT_TARGET): string {
  const problem = targetProblem(target);
  if (problem) throw new Error(problem);
  return `<!-- arbor:plan target=${target} -->`;
}

/** `🔨 3 build · 🏷 1 tag · 🗑 12 delete · 183 unchanged` */
export function summaryLine(plan: Plan): string {
  const s = plan.summary;
  return `🔨 ${s.build} build · 🏷 ${s.tag} tag · 🗑 ${s.delete} delete · ${s.none} unchanged`;
}

/** 1536 → `1.5 KiB` (IEC units, as registries and `du -h` count). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/**
 * Text for one table cell: no line breaks, and nothing that could end the cell, open a code span
 * or emphasis, or start HTML (a reason containing `</details>` must not close our section).
 */
export function tableCell(text: string): string {
  return text
    .replace(/\r?\n|\r/g, ' ')
    .replace(/[\\`*_[\]|~]/g, (c) => `\\${c}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

export function renderMarkdown(plan: Plan, options: MarkdownOptions = {}): string {
  const target = options.target ?? DEFAULT_TARGET;
  const maxChars = options.maxChars ?? GITHUB_COMMENT_LIMIT;
  if (maxChars < MIN_CHARS) throw new RangeError(`maxChars must be at least ${MIN_CHARS}, got ${maxChars}`);
  const doc = new BudgetedDocument(maxChars);

  const heading = target === DEFAULT_TARGET ? '### arbor plan' : `### arbor plan · ${tableCell(target)}`;
  doc.required(`${planMarker(target)}\n${heading}\n\n${summaryLine(plan)}\n`);

  const byAction = (action: PlannedImage['action']) => plan.images.filter((i) => i.action === action);
  const builds = byAction('build');
  const tags = byAction('tag');
  const unchanged = byAction('none');

  if (builds.length + tags.length + plan.deletions.length === 0) {
    doc.block('\nNo changes: every image exists with all its tags, and retention deletes nothing.\n');
  }
  table(doc, `🔨 Build (${builds.length})`, ['Image', 'Reasons', 'Tags'], builds, (i) => [
    `**${tableCell(i.name)}**`,
    tableCell(i.reasons.join('; ')),
    tableCell([i.fingerprintTag, ...i.tags].join(', ')),
  ]);
  table(doc, `🏷 Tag (${tags.length})`, ['Image', 'Reasons', 'Tags added'], tags, (i) => [
    `**${tableCell(i.name)}**`,
    tableCell(i.reasons.join('; ')),
    tableCell(i.tagsToAdd.join(', ')),
  ]);
  const freed = plan.deletions.reduce((sum, d) => sum + d.bytesFreed, 0);
  table(
    doc,
    `🗑 Delete (${plan.deletions.length}) · frees ${formatBytes(freed)}`,
    ['Repository', 'Tag', 'Digest', 'Rule', 'Frees', 'Reason'],
    plan.deletions,
    deletionRow,
  );

  if (options.graph !== false && plan.images.length > 0) graph(doc, plan);

  if (unchanged.length > 0) {
    doc.section(`Unchanged (${unchanged.length})`, true, unchanged.length, (add) => {
      for (const image of unchanged) if (!add(`${tableCell(image.name)}\n`)) return;
    });
  }
  return doc.finish();
}

function deletionRow(d: PlannedDeletion): string[] {
  return [
    tableCell(d.repository),
    d.tag === null ? tableCell(`(all: ${d.tags.join(', ') || 'untagged'})`) : tableCell(d.tag),
    tableCell(shortDigest(d.digest)),
    String(d.rule),
    tableCell(formatBytes(d.bytesFreed)),
    tableCell(d.reason),
  ];
}

function shortDigest(digest: string): string {
  const [algo, hex] = digest.split(':');
  return hex ? `${algo}:${hex.slice(0, 12)}` : digest;
}

function table<T>(
  doc: BudgetedDocument,
  title: string,
  header: string[],
  rows: T[],
  toCells: (row: T) => string[],
): void {
  if (rows.length === 0) return;
  const head = `| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|\n`;
  doc.section(title, rows.length > FOLD_ROWS, rows.length, (add) => {
    if (!add(head, 0)) return;
    for (const row of rows) if (!add(`| ${toCells(row).join(' | ')} |\n`)) return;
  });
}

function graph(doc: BudgetedDocument, plan: Plan): void {
  const collapse = plan.images.length > COLLAPSE_ABOVE;
  const mermaid = buildMermaid(plan, { collapseUnchanged: collapse });
  if (mermaid.edges > MERMAID_MAX_EDGES) {
    doc.block(`\n_Graph omitted: ${mermaid.edges} edges exceed Mermaid's limit of ${MERMAID_MAX_EDGES}._\n`);
    return;
  }
  // A partial graph would be invalid Mermaid, so the graph goes in whole or not at all.
  const open = `\n<details${collapse ? '' : ' open'}><summary>Graph</summary>\n\n`;
  if (!doc.block(`${open}\`\`\`mermaid\n${mermaid.text}\n\`\`\`\n\n</details>\n`)) doc.omitGraph();
}

/**
 * Appends Markdown while keeping room for the closing tags of whatever is open and for a final
 * truncation note. Rows that do not fit are counted, and the note says how many are missing.
 */
class BudgetedDocument {
  private readonly parts: string[] = [];
  private length = 0;
  private omitted = 0;
  private graphOmitted = false;
  private truncated = false;
  /** Room kept for the truncation note. */
  private static readonly NOTE_RESERVE = 200;

  constructor(private readonly maxChars: number) {}

  /** Always written (marker, summary); the budget is below any sensible limit otherwise. */
  required(text: string): void {
    this.parts.push(text);
    this.length += text.length;
  }

  /** Writes a self-contained block if it fits; returns whether it did. */
  block(text: string): boolean {
    if (this.truncated || !this.fits(text, 0)) return false;
    this.required(text);
    return true;
  }

  /**
   * A heading, then rows written by `fill` through `add`. Folded sections sit in `<details>`.
   * `add(text, rows)` returns false once the budget is spent; `rows` (default 1) is how many
   * plan rows the text carries, for the truncation note.
   */
  section(
    title: string,
    fold: boolean,
    totalRows: number,
    fill: (add: (text: string, rows?: number) => boolean) => void,
  ): void {
    const open = fold ? `\n<details><summary>${title}</summary>\n\n` : `\n#### ${title}\n\n`;
    const close = fold ? '\n</details>\n' : '';
    if (this.truncated || !this.fits(open, close.length + 40)) {
      this.skip(totalRows);
      return;
    }
    this.required(open);
    let written = 0;
    fill((text, rows = 1) => {
      if (this.truncated || !this.fits(text, close.length)) {
        this.truncated = true;
        return false;
      }
      this.required(text);
      written += rows;
      return true;
    });
    this.omitted += totalRows - written;
    this.required(close);
  }

  /** The graph did not fit; the final note says so. */
  omitGraph(): void {
    this.graphOmitted = true;
  }

  finish(): string {
    const missing: string[] = [];
    if (this.omitted > 0) missing.push(`${this.omitted} ${this.omitted === 1 ? 'row' : 'rows'}`);
    if (this.graphOmitted) missing.push('the graph');
    if (missing.length > 0) {
      this.required(
        `\n> [!NOTE]\n> Truncated to stay under ${this.maxChars} characters; not shown: ${missing.join(', ')}. ` +
          'Run `arbor plan` for the full plan.\n',
      );
    }
    return this.parts.join('');
  }

  private skip(rows: number): void {
    this.truncated = true;
    this.omitted += rows;
  }

  private fits(text: string, keep: number): boolean {
    return this.length + text.length + keep + BudgetedDocument.NOTE_RESERVE <= this.maxChars;
  }
}
