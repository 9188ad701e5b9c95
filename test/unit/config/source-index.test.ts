import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readConfig } from '../../../src/config/load.js';
import { type DataPath, parseSource } from '../../../src/config/source.js';
import { indexedSource, readSourceIndex, sourceIndexFile } from '../../../src/config/source-index.js';
import { ArborError, formatDiagnostic } from '../../../src/errors.js';
import { loadImageGraph } from '../../../src/graph/load.js';
import { sha256 } from '../../../src/sha256.js';
import { EVERY_KIND_OF_NODE as DOCUMENT, SUPPORT_FILES, writeTree, yaml } from './tree.js';

/** Everything loading the tree (config, then graph) reports, as printed. */
async function graphProblems(dir: string): Promise<string[]> {
  try {
    await loadImageGraph('images.yaml', { cwd: dir });
    return [];
  } catch (e) {
    if (e instanceof ArborError) return e.diagnostics.map(formatDiagnostic);
    throw e;
  }
}

/** Every path into `data`, plus paths that go one step too far or name a missing key. */
function pathsOf(data: unknown, prefix: DataPath = []): DataPath[] {
  const paths: DataPath[] = [prefix, [...prefix, 'missing'], [...prefix, 7]];
  if (Array.isArray(data)) for (const [i, v] of data.entries()) paths.push(...pathsOf(v, [...prefix, i]));
  else if (data && typeof data === 'object')
    for (const [k, v] of Object.entries(data)) paths.push(...pathsOf(v, [...prefix, k]));
  return paths;
}

describe('the stored parse of images.yaml (source-index)', () => {
  it('answers locate, locateKey and keysAt exactly as the parsed document does, for every path', () => {
    const parsed = parseSource(DOCUMENT, 'images.yaml');
    const index = parsed.index();
    expect(index).not.toBeNull();
    // Through JSON, as it is stored.
    const stored = indexedSource(JSON.parse(JSON.stringify(index)), 'images.yaml');
    expect(stored.data).toEqual(parsed.data);
    const paths = pathsOf(parsed.data);
    expect(paths.length).toBeGreaterThan(60);
    for (const p of paths) {
      expect(stored.locate(p), `locate ${JSON.stringify(p)}`).toEqual(parsed.locate(p));
      expect(stored.locateKey(p), `locateKey ${JSON.stringify(p)}`).toEqual(parsed.locateKey(p));
      expect(stored.keysAt(p), `keysAt ${JSON.stringify(p)}`).toEqual(parsed.keysAt(p));
    }
  });

  it('is not made for text with problems, aliases or values JSON cannot carry', () => {
    expect(parseSource('a: [1\n', 'f').index()).toBeNull(); // syntax error
    expect(parseSource('a: 1\na: 2\n', 'f').index()).toBeNull(); // duplicate key
    expect(parseSource('a: &x [1]\nb: *x\n', 'f').index()).toBeNull();
    expect(parseSource('a: .inf\n', 'f').index()).toBeNull();
    expect(parseSource('a: -0.0\n', 'f').index()).toBeNull();
    expect(parseSource('a: 1\n', 'f').index()).not.toBeNull();
  });

  it('a second load is served from the index and reports the same problems at the same places', async () => {
    // Valid YAML with problems found after parsing: a missing parent and a missing context.
    const text = yaml(
      'version: 1',
      'registry:',
      '  url: 127.0.0.1:5000',
      'images:',
      '  base:',
      '    from: scratch',
      '    context: images/nowhere',
      '  child:',
      '    parent: bsae',
    );
    const dir = await writeTree({ ...SUPPORT_FILES, 'images.yaml': text });
    const first = await readConfig('images.yaml', { cwd: dir });
    const indexFile = sourceIndexFile(path.join(dir, 'images.yaml'));
    expect(await readSourceIndex(indexFile, sha256(text))).not.toBeNull();
    const second = await readConfig('images.yaml', { cwd: dir });
    expect(second.diagnostics.map(formatDiagnostic)).toEqual(first.diagnostics.map(formatDiagnostic));
    expect(first.diagnostics.length).toBeGreaterThan(0);
    expect(JSON.stringify(second.model)).toBe(JSON.stringify(first.model));
  });

  it('is ignored when the text changed, or when it is corrupt', async () => {
    const dir = await writeTree({ ...SUPPORT_FILES, 'images.yaml': DOCUMENT });
    const file = path.join(dir, 'images.yaml');
    const indexFile = sourceIndexFile(file);
    await readConfig('images.yaml', { cwd: dir });
    expect(await readSourceIndex(indexFile, sha256(DOCUMENT))).not.toBeNull();
    expect(await readSourceIndex(indexFile, sha256(`${DOCUMENT}# edited\n`))).toBeNull();

    // Same text, the stored data tampered with but the digest kept: it is the text's digest
    // that is checked, so a corrupt body must not parse as an index at all.
    await writeFile(indexFile, (await readFile(indexFile, 'utf8')).slice(0, 100));
    expect(await readSourceIndex(indexFile, sha256(DOCUMENT))).toBeNull();
    const fresh = await readConfig('images.yaml', { cwd: dir });
    expect(fresh.model?.images.map((i) => i.name)).toEqual(['base', 'keystone']);
  });

  it('random edits of a file: a load served from the index equals a fresh parse', async () => {
    const dir = await writeTree(SUPPORT_FILES);
    const lines = DOCUMENT.trimEnd().split('\n');
    const junk = fc.constantFrom('5', '~', '[]', '{}', '[a, {b: c}]', 'base', '"x"', 'scratch', '');
    const edit = fc.record({
      line: fc.nat(),
      kind: fc.constantFrom('value', 'drop', 'repeat'),
      value: junk,
    });
    await fc.assert(
      fc.asyncProperty(fc.array(edit, { maxLength: 3 }), async (edits) => {
        const text = [...lines];
        for (const e of edits) {
          const at = e.line % text.length;
          if (e.kind === 'value') text[at] = text[at]!.replace(/(:\s|-\s)(.*)$/, `$1${e.value}`);
          else if (e.kind === 'drop') text.splice(at, 1);
          else text.splice(at, 0, text[at]!);
        }
        await writeFile(path.join(dir, 'images.yaml'), `${text.join('\n')}\n`);
        // With what the previous run stored: the pieces this edit left alone are reused.
        const served = await readConfig('images.yaml', { cwd: dir });
        const servedGraph = await graphProblems(dir);
        await rm(path.join(dir, '.arbor'), { recursive: true, force: true });
        const fresh = await readConfig('images.yaml', { cwd: dir });
        const freshGraph = await graphProblems(dir);
        const again = await readConfig('images.yaml', { cwd: dir });
        for (const load of [served, again]) {
          expect(load.diagnostics.map(formatDiagnostic)).toEqual(fresh.diagnostics.map(formatDiagnostic));
          expect(JSON.stringify(load.model)).toBe(JSON.stringify(fresh.model));
        }
        expect(servedGraph).toEqual(freshGraph);
        expect(await graphProblems(dir)).toEqual(freshGraph);
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 150) },
    );
  }, 60_000);
});
