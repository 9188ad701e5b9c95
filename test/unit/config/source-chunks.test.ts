import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readConfig } from '../../../src/config/load.js';
import { parseSource } from '../../../src/config/source.js';
import {
  assembleIndex,
  type Chunk,
  cutIndex,
  type Piece,
  splitSource,
} from '../../../src/config/source-chunks.js';
import { readSourcePieces, type SourceIndex, sourcePiecesFile } from '../../../src/config/source-index.js';
import { formatDiagnostic } from '../../../src/errors.js';
import { sha256 } from '../../../src/sha256.js';
import { EVERY_KIND_OF_NODE, SUPPORT_FILES, writeTree, yaml } from './tree.js';

const REPO = path.resolve(import.meta.dirname, '../../..');

/** The index of the whole text put together from a parse of each piece alone (null: not possible). */
function assembled(text: string): SourceIndex | null {
  const pieces = splitSource(text);
  const byChunk = new Map<Chunk, SourceIndex | null>();
  for (const piece of pieces)
    for (const chunk of piece.kind === 'whole' ? [piece.chunk] : piece.chunks)
      byChunk.set(chunk, parseSource(chunk.text, 'f').index());
  return assembleIndex(pieces, (c) => byChunk.get(c) ?? undefined);
}

/**
 * Each chunk's index cut out of the whole text's equals a parse of that chunk alone; `always`:
 * and the cut is possible.
 */
function expectCutAsParsed(text: string, whole: SourceIndex, always: boolean): void {
  const pieces = splitSource(text);
  const cut = cutIndex(pieces, whole);
  if (always) expect(cut).not.toBeNull();
  if (!cut) return;
  for (const piece of pieces)
    for (const chunk of piece.kind === 'whole' ? [piece.chunk] : piece.chunks)
      expect(cut.get(chunk), JSON.stringify(chunk.text)).toEqual(parseSource(chunk.text, 'f').index());
}

/** Pieces with the text of each chunk, for reading a failure. */
function shape(pieces: Piece[]) {
  return pieces.map((p) =>
    p.kind === 'whole'
      ? { whole: p.chunk.firstLine }
      : { key: p.key, entries: p.chunks.map((c) => c.firstLine) },
  );
}

const SAMPLES: Record<string, string> = {
  'every kind of node': EVERY_KIND_OF_NODE,
  'a document marker, comments everywhere, a header comment': yaml(
    '# file header',
    '',
    '--- # the document',
    'version: 1 # trailing',
    '# between sections',
    'images: # the tree',
    '',
    '  # before the first image',
    '',
    '  base:',
    '    from: scratch',
    '# at column 0 inside the section',
    '  child:',
    '    parent: base',
    '    # indented comment',
    '',
    '# at the end',
  ),
  'lists at column 0 and block scalars': yaml(
    'tags:',
    '- a',
    '- b: c',
    '  d: e',
    'notes: |',
    '  line one',
    '',
    '  line three',
    'folded: >-',
    '  some',
    '  text',
    'images:',
    '    deep:',
    '        run: |',
    '          echo a',
    '          echo b',
    '    next: {}',
  ),
  'entries that are scalars, a header with spaces before its colon': yaml(
    'variables :',
    '  a: 1',
    '  b: "two"',
    "  c: 'three'",
    '  d: multi',
    '    line plain',
    'images:',
  ),
  'CRLF line ends, no final newline':
    'version: 1\r\nimages:\r\n  a:\r\n    from: scratch\r\n  b:\r\n    parent: a',
  'a single section': yaml('images:', '  a:', '    from: scratch', '  b:', '    parent: a'),
  'integer-like and reserved-looking keys': yaml(
    'true: 1',
    'images:',
    '  "1": one',
    '  "0": zero',
    '  null: x',
    '  yes: y',
    'null:',
    '  a: 1',
  ),
};

describe('images.yaml in pieces (source-chunks)', () => {
  it('cuts a tree into its sections and its images', () => {
    const text = SAMPLES['a document marker, comments everywhere, a header comment']!;
    expect(shape(splitSource(text))).toEqual([{ whole: 1 }, { key: 'images', entries: [7, 13] }]);
    expect(shape(splitSource(SAMPLES['every kind of node']!))).toEqual([
      { whole: 1 },
      { whole: 3 },
      { key: 'variables', entries: [5, 6, 7, 8, 9, 10, 11] },
      { whole: 12 },
      { key: 'images', entries: [17, 20] },
    ]);
  });

  it.each(Object.keys(SAMPLES))('put together, the pieces give the index of the whole text: %s', (name) => {
    const text = SAMPLES[name]!;
    const whole = parseSource(text, 'f').index();
    expect(whole).not.toBeNull();
    expect(assembled(text)).toEqual(whole);
    expectCutAsParsed(text, whole!, true);
  });

  it("gives the same index as the whole text for this repository's tree and a large generated one", async () => {
    // 300 images shaped like a distribution's: parents, templates, args, inputs, comments.
    const generated = yaml(
      '# generated',
      'version: 1',
      'registry: { url: "127.0.0.1:5000", namespace: openstack }',
      'tags: ["{{ release }}", latest]',
      'images:',
      ...Array.from({ length: 300 }, (_, i) => [
        `  image-${i}:${i % 7 === 0 ? ' # a comment' : ''}`,
        i === 0 ? '    from: scratch' : `    parent: image-${Math.floor(i / 4)}`,
        `    template: t${i % 5}.Dockerfile.njk`,
        ...(i % 3
          ? [`    args: { N: ${i}, NAME: "image-${i}" }`]
          : ['    inputs:', '      files:', `        - lists/${i}.txt`]),
        ...(i % 11 ? [] : ['', '  # the next family']),
      ]).flat(),
    );
    for (const text of [await readFile(path.join(REPO, 'images.yaml'), 'utf8'), generated]) {
      const whole = parseSource(text, 'f').index();
      expect(whole).not.toBeNull();
      expect(splitSource(text).length).toBeGreaterThan(2);
      expect(assembled(text)).toEqual(whole);
    }
  });

  it('does not cut where YAML would read the lines otherwise', () => {
    const notCut = [
      'a: 1\n---\nb: 2\n', // two documents
      '%YAML 1.2\n---\na: 1\n', // a directive
      '? a\n: b\nc: 1\n', // a complex key
      '{a: 1,\nb: 2}\n', // a flow mapping
      '\ta: 1\nb: 2\n', // a tab
    ];
    for (const text of notCut)
      expect(splitSource(text), JSON.stringify(text)).toEqual([
        { kind: 'whole', chunk: { text, firstLine: 1 } },
      ]);
    // Sections whose values are not a block mapping are kept whole.
    for (const text of [
      'a: &x\n  b: 1\nc: 2\n',
      'a:\n  - b\nc: 2\n',
      'a: [1,\n  2]\nc: 2\n',
      'a:\n  ? b\n  : c\nd: 1\n',
    ])
      expect(
        splitSource(text).every((p) => p.kind === 'whole'),
        JSON.stringify(text),
      ).toBe(true);
  });

  it('a cut inside a quote, a bracket or an alias leaves a piece that does not parse alone', () => {
    for (const text of [
      'a: "x\nb: y"\n',
      'a: {x: 1,\nb: 2}\n',
      'images:\n  a: "x\n  b: y"\n',
      'images:\n  a: &base\n    from: scratch\n  b: *base\n',
      'a: 1\na: 2\n', // a duplicate top-level key
      'images:\n  a: 1\n  a: 2\n', // a duplicate image
    ])
      expect(assembled(text), JSON.stringify(text)).toBeNull();
  });

  it('random documents and damaged ones: whenever the pieces parse alone, they give the index of the whole', () => {
    // Mostly distinct keys, with some that repeat or that YAML reads as something else.
    const key = fc.oneof(
      { arbitrary: fc.nat(999).map((n) => `k${n}`), weight: 6 },
      fc.constantFrom('images', 'b-c', 'null', 'true', '"q r"', "'s'", '7', 'x y', 'a'),
    );
    const scalar = fc.constantFrom(
      '5',
      '~',
      'base',
      '"x"',
      "'y'",
      '[a, {b: c}]',
      '{}',
      '',
      '&n 1',
      '!!str 3',
    );
    const value = (indent: string) =>
      fc.oneof(
        scalar.map((v) => [` ${v}`]),
        fc.constant([' |', `${indent}  text`, '', `${indent}  more: text`]),
        fc.constant(['', `${indent}  - one`, `${indent}  - two: 2`, `${indent}    three: 3`]),
        fc.constant([' "multi', `${indent}  line: quoted"`]),
        fc.constant([
          '',
          `${indent}  # a comment`,
          `${indent}  inner: 1`,
          `${indent}  deeper:`,
          `${indent}    x: y`,
        ]),
      );
    const entry = (indent: string) =>
      fc.tuple(key, value(indent)).map(([k, [first, ...rest]]) => [`${indent}${k}:${first}`, ...rest]);
    const section = fc.oneof(
      fc.tuple(key, value('')).map(([k, [first, ...rest]]) => [`${k}:${first}`, ...rest]),
      fc
        .tuple(key, fc.constantFrom('  ', '    '), fc.array(fc.nat(), { minLength: 1, maxLength: 4 }))
        .chain(([k, indent, n]) =>
          fc.tuple(...n.map(() => entry(indent))).map((entries) => [`${k}:`, ...entries.flat()]),
        ),
      key.map((k) => [`${k}:`, '- a', '- b: c', '  d: e']),
      fc.constant(['# comment', '']),
    );
    const damage = fc.constantFrom(
      '---',
      '...',
      '%YAML 1.2',
      '? a',
      ': b',
      '  "open',
      'x: [',
      '  y: }',
      '\tz: 1',
      '- item',
      '  *n',
      'k: *n',
      '    w',
    );
    const document = fc
      .tuple(
        fc.array(section, { minLength: 1, maxLength: 6 }),
        fc.oneof({ arbitrary: fc.constant(null), weight: 2 }, fc.tuple(fc.nat(), damage)),
        fc.boolean(),
      )
      .map(([sections, damaged, crlf]) => {
        const lines = sections.flat();
        if (damaged) lines.splice(damaged[0] % (lines.length + 1), 0, damaged[1]);
        return `${lines.join(crlf ? '\r\n' : '\n')}\n`;
      });
    let cut = 0;
    fc.assert(
      fc.property(document, (text) => {
        const fromPieces = assembled(text);
        const whole = parseSource(text, 'f').index();
        if (whole) expectCutAsParsed(text, whole, false);
        if (fromPieces === null) return;
        if (splitSource(text).flatMap((p) => (p.kind === 'whole' ? [p.chunk] : p.chunks)).length > 1) cut++;
        expect(fromPieces).toEqual(parseSource(text, 'f').index());
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 1500) },
    );
    // The property is about texts that are cut: most of the generated ones must be.
    expect(cut).toBeGreaterThan(Number(process.env.FUZZ_RUNS ?? 1500) / 4);
  });

  it('an edit parses only the pieces it touched, and the load equals a fresh parse of the whole', async () => {
    const dir = await writeTree(SUPPORT_FILES);
    const file = path.join(dir, 'images.yaml');
    const text = yaml(
      'version: 1',
      'registry:',
      '  url: 127.0.0.1:5000',
      'images:',
      '  base:',
      '    from: scratch',
      '  keystone:',
      '    parent: base',
      '    colour: blue',
    );
    await writeFile(file, text);
    const first = await readConfig('images.yaml', { cwd: dir });
    const stored = await readSourcePieces(sourcePiecesFile(file));
    expect([...stored.keys()].sort()).toEqual(
      [
        'version: 1\n',
        '  url: 127.0.0.1:5000\n',
        '  base:\n    from: scratch\n',
        '  keystone:\n    parent: base\n    colour: blue\n',
      ]
        .map(sha256)
        .sort(),
    );
    // An image added above the others moves every line below it: their stored pieces still serve.
    const edited = text.replace(
      'images:\n',
      'images:\n  extra:\n    parent: base\n    template: keystone.Dockerfile.njk\n',
    );
    await writeFile(file, edited);
    const second = await readConfig('images.yaml', { cwd: dir });
    const storedAfter = await readSourcePieces(sourcePiecesFile(file));
    expect(storedAfter.size).toBe(5);
    expect(second.diagnostics.length).toBe(1);
    for (const [digest, index] of stored) expect(storedAfter.get(digest)).toEqual(index);
    await rm(path.join(dir, '.arbor'), { recursive: true, force: true });
    const fresh = await readConfig('images.yaml', { cwd: dir });
    expect(second.diagnostics.map(formatDiagnostic)).toEqual(fresh.diagnostics.map(formatDiagnostic));
    expect(second.diagnostics.map(formatDiagnostic).join('\n')).toContain(
      'images.yaml:12:5: error: image keystone: unknown key "colour"',
    );
    expect(first.diagnostics.map(formatDiagnostic).join('\n')).toContain(
      'images.yaml:9:5: error: image keystone: unknown key "colour"',
    );
    expect(JSON.stringify(second.model)).toBe(JSON.stringify(fresh.model));
  });
});
