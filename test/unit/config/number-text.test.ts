import { describe, expect, it } from 'vitest';
import { numbersReadOtherwise } from '../../../src/config/number-text.js';

const text = [
  'variables:',
  '  release: 2025.10',
  '  patch: 5',
  '  ratio: 1.5',
  '  mode: 0x10',
  'images:',
  '  app:',
  '    variables: { series: 1.0, name: "2025.10" }',
].join('\n');

const data = {
  variables: { release: 2025.1, patch: 5, ratio: 1.5, mode: 16 },
  images: { app: { variables: { series: 1, name: '2025.10' } } },
};

/** Where each value above is written (line, column of its first character). */
const at: Record<string, [number, number]> = {
  'variables.release': [2, 12],
  'variables.patch': [3, 10],
  'variables.ratio': [4, 10],
  'variables.mode': [5, 9],
  'images.app.variables.series': [8, 26],
  'images.app.variables.name': [8, 37],
};

describe('numbersReadOtherwise', () => {
  it('warns, where it is written, about a number YAML reads otherwise than it is written', () => {
    const found = numbersReadOtherwise(data, text, (path) => {
      const [line, col] = at[path.join('.')]!;
      return { file: 'images.yaml', line, col };
    });
    expect(found.map((d) => `${d.loc?.line}:${d.loc?.col} ${d.severity}: ${d.message}`)).toEqual([
      '2:12 warning: variables.release: 2025.10 is read as the number 2025.1; quote it ("2025.10") to keep it as written',
      '5:9 warning: variables.mode: 0x10 is read as the number 16; quote it ("0x10") to keep it as written',
      '8:26 warning: images.app.variables.series: 1.0 is read as the number 1; quote it ("1.0") to keep it as written',
    ]);
  });
});
