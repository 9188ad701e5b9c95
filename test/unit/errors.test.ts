// The printed form of errors: located, merged when the same problem is found for several images,
// and short whatever text reaches them.
import { describe, expect, it } from 'vitest';
import { briefMessage, type Diagnostic, formatDiagnostic, mergeRepeats, quote } from '../../src/errors.js';

const loc = (line: number) => ({ file: 'templates/x.njk', line, col: 3 });

describe('mergeRepeats', () => {
  it('reports the same message at the same place once, naming every image, in first-seen order', () => {
    const found: Diagnostic[] = [
      { severity: 'error', message: 'undefined variable "x"', loc: loc(2), image: 'a' },
      { severity: 'error', message: 'other', loc: loc(2), image: 'a' },
      { severity: 'error', message: 'undefined variable "x"', loc: loc(2), image: 'b' },
      { severity: 'error', message: 'undefined variable "x"', loc: loc(9), image: 'c' },
      { severity: 'error', message: 'undefined variable "x"', loc: loc(2), images: ['b', 'd'] },
    ];
    expect(mergeRepeats(found).map(formatDiagnostic)).toEqual([
      'templates/x.njk:2:3: error: images a, b, d: undefined variable "x"',
      'templates/x.njk:2:3: error: image a: other',
      'templates/x.njk:9:3: error: image c: undefined variable "x"',
    ]);
  });

  it('names a few images and counts the rest', () => {
    const images = Array.from({ length: 40 }, (_, i) => `img${i}`);
    const merged = mergeRepeats(
      images.map((image) => ({ severity: 'error', message: 'm', loc: loc(1), image })),
    );
    expect(merged).toHaveLength(1);
    expect(formatDiagnostic(merged[0]!)).toBe(
      'templates/x.njk:1:3: error: images img0, img1, img2 and 37 more: m',
    );
  });
});

describe('short messages', () => {
  it('quotes long or binary values by their start and length', () => {
    expect(quote('abc')).toBe('"abc"');
    expect(quote('a"b')).toBe('"a"b"');
    expect(quote('\u0000\n')).toBe('"\\u0000\\n"');
    expect(quote('z'.repeat(1000))).toBe(`"${'z'.repeat(60)}…" (1,000 characters)`);
  });

  it('cuts a message of many lines or characters, saying how long it was', () => {
    expect(briefMessage('short')).toBe('short');
    const nested = Array.from({ length: 5000 }, (_, i) => ` (t${i}.njk)`).join('\n');
    const brief = briefMessage(nested);
    expect(brief.split('\n')).toHaveLength(4);
    expect(brief).toMatch(/… \([\d,]+ characters in all\)$/);
    expect(briefMessage('y'.repeat(10_000)).length).toBeLessThan(500);
    expect(formatDiagnostic({ severity: 'error', message: 'q'.repeat(5000) }).length).toBeLessThan(500);
  });
});
