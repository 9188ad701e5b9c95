import { describe, expect, it } from 'vitest';
import type { ImageOutcome } from '../../../src/execute/apply.js';
import { succeeded, summaryTable, totalsLine } from '../../../src/execute/report.js';
import { formatBytes } from '../../../src/format-bytes.js';

const outcome = (
  name: string,
  status: ImageOutcome['status'],
  extra: Partial<ImageOutcome> = {},
): ImageOutcome => ({
  name,
  action: status === 'tagged' ? 'tag' : status === 'unchanged' ? 'none' : 'build',
  status,
  bytesUploaded: 0,
  tagsAdded: [],
  ms: 0,
  ...extra,
});

describe('apply summary', () => {
  it('formats bytes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(5 * 1024 * 1024)).toBe('5.0 MiB');
    expect(formatBytes(null)).toBe('?');
  });

  it('lists every image with work and totals them', () => {
    const outcomes = [
      outcome('base', 'built', { bytesUploaded: 2048, ms: 1200, tagsAdded: ['1', 'fp-x'] }),
      outcome('tools', 'failed', { detail: 'docker build exited with code 1' }),
      outcome('app', 'skipped', { detail: 'parent tools failed' }),
      outcome('docs', 'unchanged'),
    ];
    const table = summaryTable(outcomes);
    expect(table).toMatch(/^image\s+result\s+time\s+uploaded\s+detail$/m);
    expect(table).toMatch(/^base\s+built\s+1\.2s\s+2\.0 KiB\s+\+ 1, fp-x$/m);
    expect(table).toMatch(/^app\s+skipped\s+parent tools failed$/m);
    expect(table).not.toMatch(/^docs/m);
    expect(totalsLine(outcomes)).toBe(
      'Apply: 1 built, 0 tagged, 1 failed, 1 skipped, 1 unchanged, 2.0 KiB uploaded.',
    );
    expect(succeeded(outcomes)).toBe(false);
    expect(succeeded([outcomes[0]!, outcomes[3]!])).toBe(true);
  });

  it('shows refresh outcomes: content unchanged (not pushed) apart from refreshed, both counted', () => {
    const outcomes = [
      outcome('base', 'unchanged-content', { action: 'none', ms: 900 }),
      outcome('tools', 'unchanged-content', { action: 'tag', tagsAdded: ['2025.1-p6'] }),
      outcome('app', 'refreshed', { action: 'none', bytesUploaded: 4096, tagsAdded: ['1', 'fp-y'] }),
      outcome('docs', 'unchanged'),
    ];
    const table = summaryTable(outcomes);
    expect(table).toMatch(/^base\s+unchanged-content\s+0\.9s\s+0 B\s+content unchanged, not pushed$/m);
    expect(table).toMatch(
      /^tools\s+unchanged-content\s+0 B\s+content unchanged, not pushed; \+ 2025\.1-p6$/m,
    );
    expect(table).toMatch(/^app\s+refreshed\s+4\.0 KiB\s+\+ 1, fp-y$/m);
    expect(totalsLine(outcomes)).toBe(
      'Apply: 0 built, 0 tagged, 0 failed, 0 skipped, 1 refreshed, 2 content unchanged, 1 unchanged, 4.0 KiB uploaded.',
    );
    expect(succeeded(outcomes)).toBe(true);
  });

  it('says the upload total is unknown when a builder cannot tell', () => {
    expect(totalsLine([outcome('a', 'built', { bytesUploaded: null })])).toContain('? uploaded');
  });
});
