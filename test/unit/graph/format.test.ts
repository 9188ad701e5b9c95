import { describe, expect, it } from 'vitest';
import type { Config, ImageConfig } from '../../../src/config/model.js';
import { toDot, toJson, toMermaid } from '../../../src/graph/format.js';
import { ImageGraph } from '../../../src/graph/graph.js';

function image(name: string, base: { parent: string } | { from: string }): ImageConfig {
  return {
    name,
    ...base,
    inputs: { files: [], env: [] },
    args: {},
    platforms: [],
    labels: {},
    loc: { file: 'images.yaml', line: 1, col: 1 },
  };
}

const config: Pick<Config, 'images' | 'locate'> = {
  images: [
    image('base', { from: 'scratch' }),
    image('os.base', { parent: 'base' }),
    image('end', { parent: 'os.base' }),
    image('tools', { parent: 'base' }),
  ],
  locate: () => ({ file: 'images.yaml', line: 1, col: 1 }),
};
const graph = ImageGraph.fromConfig(config);

describe('graph formats', () => {
  it('mermaid: positional ids, names as labels, optional classes', () => {
    expect(toMermaid(graph)).toBe(
      [
        'graph TD',
        '  n0["base"]',
        '  n1["os.base"]',
        '  n2["end"]',
        '  n3["tools"]',
        '  n0 --> n1',
        '  n1 --> n2',
        '  n0 --> n3',
        '',
      ].join('\n'),
    );
    const styled = toMermaid(graph, {
      classes: { base: 'none', 'os.base': 'build', end: 'build' },
      classDefs: { build: 'fill:#fde2e1', none: 'fill:#eee' },
    });
    expect(styled.split('\n').slice(8)).toEqual([
      '  classDef build fill:#fde2e1',
      '  classDef none fill:#eee',
      '  class n0 none',
      '  class n1,n2 build',
      '',
    ]);
  });

  it('dot', () => {
    expect(toDot(graph)).toBe(
      [
        'digraph images {',
        '  rankdir=TB;',
        '  node [shape=box];',
        '  "base";',
        '  "os.base";',
        '  "end";',
        '  "tools";',
        '  "base" -> "os.base";',
        '  "os.base" -> "end";',
        '  "base" -> "tools";',
        '}',
        '',
      ].join('\n'),
    );
  });

  it('json', () => {
    expect(toJson(graph)).toEqual({
      formatVersion: 1,
      images: [
        { name: 'base', parent: null, from: 'scratch', children: ['os.base', 'tools'], depth: 0 },
        { name: 'os.base', parent: 'base', from: null, children: ['end'], depth: 1 },
        { name: 'end', parent: 'os.base', from: null, children: [], depth: 2 },
        { name: 'tools', parent: 'base', from: null, children: [], depth: 1 },
      ],
    });
  });

  it('renders a selection', () => {
    const sub = graph.subgraph(graph.select(['end']));
    expect(toJson(sub).images.map((i) => i.name)).toEqual(['base', 'os.base', 'end']);
  });
});
