import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatBytes,
  planMarker,
  renderMarkdown,
  summaryLine,
  tableCell,
  targetProblem,
} from '../../../src/plan/views/markdown.js';
import { deletion, makePlan, SMALL_DELETIONS, SMALL_TREE, wideTree } from '../../fixtures/plans/plans.js';

/** Structural validity: balanced `<details>`, closed code fences. */
function assertWellFormed(md: string): void {
  const opens = md.match(/<details[\s>]/g)?.length ?? 0;
  const closes = md.match(/<\/details>/g)?.length ?? 0;
  expect(closes).toBe(opens);
  const fences = md.split('\n').filter((l) => l.startsWith('```')).length;
  expect(fences % 2).toBe(0);
  // Every table row has as many cells as its header (an unescaped `|` would add one).
  const lines = md.split('\n');
  let columns = 0;
  for (const line of lines) {
    if (!line.startsWith('|')) {
      columns = 0;
      continue;
    }
    const cells = line.replace(/\\\|/g, '').split('|').length - 2;
    if (columns === 0) columns = cells;
    else expect(cells, line).toBe(columns);
  }
}

describe('renderMarkdown', () => {
  const plan = makePlan(SMALL_TREE, SMALL_DELETIONS);

  it('starts with the hidden marker and the one-line summary', () => {
    const md = renderMarkdown(plan, { target: 'openstack' });
    const lines = md.split('\n');
    expect(lines[0]).toBe('<!-- arbor:plan target=openstack -->');
    expect(md).toContain('🔨 3 build · 🏷 1 tag · 🗑 2 delete · 3 unchanged');
    assertWellFormed(md);
  });

  it('has a table per action with the reasons, and deletions with bytes freed', () => {
    const md = renderMarkdown(plan);
    expect(md).toContain('#### 🔨 Build (3)');
    expect(md).toContain('| **keystone** | parent keystone-base is rebuilt | fp-');
    expect(md).toContain('#### 🏷 Tag (1)');
    expect(md).toContain('| **nova-base** | tag 2025.1-p5 is missing | 2025.1, 2025.1-p5 |');
    // 150 MiB + 1.2 GiB
    expect(md).toContain('🗑 Delete (2) · frees 1.3 GiB');
    expect(md).toContain('| 150.0 MiB |');
    expect(md).toContain('| 1.2 GiB |');
  });

  it('draws the tree in Mermaid with actions styled apart', () => {
    const md = renderMarkdown(plan);
    const graph = /```mermaid\n([\s\S]*?)\n```/.exec(md)?.[1];
    expect(graph).toBeDefined();
    expect(graph).toContain(':::build');
    expect(graph).toContain(':::tag');
    expect(graph).toContain(':::none');
    expect(renderMarkdown(plan, { graph: false })).not.toContain('```mermaid');
  });

  it('says so when nothing changes', () => {
    const md = renderMarkdown(makePlan([{ name: 'base' }, { name: 'app', parent: 'base' }]));
    expect(md).toContain('🔨 0 build · 🏷 0 tag · 🗑 0 delete · 2 unchanged');
    expect(md).toContain('No changes');
    expect(md).not.toContain('#### 🔨');
  });

  it('folds long sections into <details>', () => {
    const big = makePlan(wideTree(3, 11, (n) => (n.startsWith('svc-0') ? 'build' : 'none')));
    const md = renderMarkdown(big);
    expect(md).toContain('<details><summary>🔨 Build (11)</summary>');
    assertWellFormed(md);
  });

  it('escapes pipes, backticks and HTML in cells, so a reason cannot break the table or a section', () => {
    const nasty = makePlan([
      { name: 'base', action: 'build', reasons: ['arg `A|B` changed </details> <!-- x --> ```'] },
    ]);
    const md = renderMarkdown(nasty);
    expect(md).toContain('arg \\`A\\|B\\` changed &lt;/details&gt; &lt;!-- x --&gt; \\`\\`\\`');
    assertWellFormed(md);
  });

  it('stays under maxChars on a 2,000-image tree, says what it left out, and stays well formed', () => {
    const huge = makePlan(
      wideTree(40, 49, (n) =>
        n.endsWith('-0') || n.endsWith('-1') ? 'build' : n.endsWith('-2') ? 'tag' : 'none',
      ),
      Array.from({ length: 400 }, (_, i) => deletion(`svc-${i}`, `2024.${i}`, i * 1_000_000)),
    );
    expect(huge.images.length).toBeGreaterThanOrEqual(2000);
    for (const maxChars of [65_536, 20_000, 4_000]) {
      const md = renderMarkdown(huge, { maxChars });
      expect(md.length).toBeLessThanOrEqual(maxChars);
      expect(md).toMatch(/Truncated to stay under \d+ characters; not shown: \d+ rows/);
      expect(md.startsWith('<!-- arbor:plan target=default -->')).toBe(true);
      assertWellFormed(md);
    }
  });

  it('never exceeds the limit or breaks structure, whatever the plan (property)', () => {
    const spec = fc.record({
      builds: fc.integer({ min: 0, max: 120 }),
      reason: fc.string({ maxLength: 80 }),
      deletions: fc.integer({ min: 0, max: 60 }),
      maxChars: fc.integer({ min: 1024, max: 30_000 }),
    });
    fc.assert(
      fc.property(spec, ({ builds, reason, deletions, maxChars }) => {
        const p = makePlan(
          [
            { name: 'base', action: 'none' },
            ...Array.from({ length: builds }, (_, i) => ({
              name: `img-${i}`,
              parent: 'base',
              action: 'build' as const,
              reasons: [reason],
            })),
          ],
          Array.from({ length: deletions }, (_, i) => deletion(`r${i}`, reason || 't', i)),
        );
        const md = renderMarkdown(p, { maxChars });
        expect(md.length).toBeLessThanOrEqual(maxChars);
        assertWellFormed(md);
      }),
      { numRuns: 60 },
    );
  });

  it('refuses a limit too small for the marker and summary', () => {
    expect(() => renderMarkdown(plan, { maxChars: 100 })).toThrow(/at least 1024/);
  });
});

describe('helpers', () => {
  it('planMarker names the target and rejects names that could end the comment', () => {
    expect(planMarker()).toBe('<!-- arbor:plan target=default -->');
    expect(planMarker('infra/base')).toBe('<!-- arbor:plan target=infra/base -->');
    expect(targetProblem('a -->')).toMatch(/must be/);
    expect(() => planMarker('x-->y z')).toThrow();
  });

  it('summaryLine', () => {
    expect(summaryLine(makePlan(SMALL_TREE, SMALL_DELETIONS))).toBe(
      '🔨 3 build · 🏷 1 tag · 🗑 2 delete · 3 unchanged',
    );
  });

  it('formatBytes uses IEC units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(5 * 1024 ** 3)).toBe('5.0 GiB');
  });

  it('tableCell keeps text on one line with every special character escaped', () => {
    expect(tableCell('a|b\nc')).toBe('a\\|b c');
    expect(tableCell('<b>&')).toBe('&lt;b&gt;&amp;');
  });
});
