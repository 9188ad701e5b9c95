import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Config, ImageConfig } from '../../../src/config/model.js';
import { ArborError, formatDiagnostic } from '../../../src/errors.js';
import { ImageGraph } from '../../../src/graph/graph.js';

/** Images from `name: parent` pairs (null parent = `from: scratch`), in the given order. */
function tree(pairs: Array<[string, string | null]>): Pick<Config, 'images' | 'locate'> {
  const images: ImageConfig[] = pairs.map(([name, parent], index) => ({
    name,
    ...(parent === null ? { from: 'scratch' } : { parent }),
    inputs: { files: [], env: [] },
    args: {},
    platforms: [],
    labels: {},
    loc: { file: 'images.yaml', line: index + 1, col: 3 },
  }));
  // Points at the image's line, column 13 for `parent:` values, as a loader would.
  const locate: Config['locate'] = (path) => {
    const line = pairs.findIndex(([name]) => name === path[1]) + 1;
    return { file: 'images.yaml', line, col: path.length > 2 ? 13 : 3 };
  };
  return { images, locate };
}

//        base
//       /    \
//   os-base  tools
//    /   \       \
// keystone nova  lint
const FAMILY = tree([
  ['base', null],
  ['tools', 'base'],
  ['os-base', 'base'],
  ['nova', 'os-base'],
  ['lint', 'tools'],
  ['keystone', 'os-base'],
]);

function problemsOf(source: Pick<Config, 'images' | 'locate'>): string[] {
  try {
    ImageGraph.fromConfig(source);
    return [];
  } catch (e) {
    if (!(e instanceof ArborError)) throw e;
    return e.diagnostics.map(formatDiagnostic);
  }
}

describe('ImageGraph', () => {
  const graph = ImageGraph.fromConfig(FAMILY);

  it('orders parents before children, ties broken by file order', () => {
    expect(graph.topologicalOrder()).toEqual(['base', 'tools', 'os-base', 'nova', 'lint', 'keystone']);
  });

  it('answers structure questions', () => {
    expect(graph.size).toBe(6);
    expect(graph.roots()).toEqual(['base']);
    expect(graph.parentOf('nova')).toBe('os-base');
    expect(graph.parentOf('base')).toBeUndefined();
    expect(graph.childrenOf('os-base')).toEqual(['nova', 'keystone']);
    expect(graph.childrenOf('lint')).toEqual([]);
    expect(graph.ancestorsOf('keystone')).toEqual(['os-base', 'base']);
    expect(graph.descendantsOf('base')).toEqual(['tools', 'os-base', 'nova', 'lint', 'keystone']);
    expect(graph.descendantsOf('os-base')).toEqual(['nova', 'keystone']);
    expect(graph.depthOf('base')).toBe(0);
    expect(graph.depthOf('keystone')).toBe(2);
    expect(graph.longestPathToLeaf('base')).toBe(2);
    expect(graph.longestPathToLeaf('tools')).toBe(1);
    expect(graph.longestPathToLeaf('nova')).toBe(0);
    expect(graph.image('nova').parent).toBe('os-base');
  });

  it('selects images with their ancestors, and descendants when asked', () => {
    expect(graph.select(['keystone'])).toEqual(['base', 'os-base', 'keystone']);
    expect(graph.select(['keystone', 'lint'])).toEqual(['base', 'tools', 'os-base', 'lint', 'keystone']);
    expect(graph.select(['os-base'], { withDescendants: true })).toEqual([
      'base',
      'os-base',
      'nova',
      'keystone',
    ]);
    expect(graph.select([])).toEqual([]);
  });

  it('rejects unknown image names with suggestions, all at once', () => {
    expect(() => graph.select(['keystne', 'zzz'])).toThrow(
      'error: unknown image "keystne" (did you mean "keystone"?)\nerror: unknown image "zzz"',
    );
    expect(() => graph.image('nvoa')).toThrow('unknown image "nvoa" (did you mean "nova"?)');
  });

  it('restricts to a subgraph whose cut-off images become roots', () => {
    const sub = graph.subgraph(['os-base', 'keystone', 'lint']);
    expect(sub.topologicalOrder()).toEqual(['os-base', 'lint', 'keystone']);
    expect(sub.roots()).toEqual(['os-base', 'lint']);
    expect(sub.parentOf('keystone')).toBe('os-base');
    expect(sub.parentOf('lint')).toBeUndefined();
  });

  it('reports unknown parents, self-parents, duplicate names and every cycle', () => {
    expect(
      problemsOf(
        tree([
          ['base', null],
          ['a', 'c'],
          ['keystone', 'bsae'],
          ['b', 'a'],
          ['me', 'me'],
          ['c', 'b'],
          ['x', 'y'],
          ['y', 'x'],
          ['base', null],
        ]),
      ),
    ).toEqual([
      'images.yaml:9:3: error: image base: duplicate image name',
      'images.yaml:3:13: error: image keystone: unknown parent "bsae" (did you mean "base"?)',
      'images.yaml:5:13: error: image me: is its own parent',
      "images.yaml:2:13: error: image a: images form a cycle: a → c → b → a (each image's parent follows it)",
      "images.yaml:7:13: error: image x: images form a cycle: x → y → x (each image's parent follows it)",
    ]);
  });

  it('property: the order puts every parent before its children and is a permutation', () => {
    // Random forests: image i's parent is one of images 0..i-1 or none; then shuffled.
    const forest = fc
      .array(fc.option(fc.nat(), { nil: undefined }), { minLength: 1, maxLength: 40 })
      .chain((parents) =>
        fc
          .shuffledSubarray(
            parents.map((_parent, i) => i),
            { minLength: parents.length, maxLength: parents.length },
          )
          .map((order) => ({ parents, order })),
      );
    fc.assert(
      fc.property(forest, ({ parents, order }) => {
        const pairs: Array<[string, string | null]> = order.map((i) => {
          const p = parents[i];
          return [`i${i}`, i === 0 || p === undefined ? null : `i${p % i}`];
        });
        const g = ImageGraph.fromConfig(tree(pairs));
        const sorted = g.topologicalOrder();
        expect([...sorted].sort()).toEqual(pairs.map(([n]) => n).sort());
        const position = new Map(sorted.map((n, i) => [n, i]));
        for (const [name, parent] of pairs) {
          if (parent !== null) expect(position.get(parent)!).toBeLessThan(position.get(name)!);
        }
      }),
    );
  });
});
