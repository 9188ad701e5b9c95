import { describe, expect, it } from 'vitest';
import { buildMermaid, planToMermaid } from '../../../src/plan/views/mermaid.js';
import { makePlan, SMALL_TREE, wideTree } from '../../fixtures/plans/plans.js';

/** node id → label, and the edges as `parentLabel -> childLabel`. */
function parse(text: string): { labels: Map<string, string>; edges: string[]; classes: Map<string, string> } {
  const labels = new Map<string, string>();
  const classes = new Map<string, string>();
  const edges: string[] = [];
  for (const line of text.split('\n').map((l) => l.trim())) {
    const node = /^(\w+)\(?\["(.*)"\]\)?:::(\w+)$/.exec(line);
    if (node) {
      labels.set(node[1]!, node[2]!);
      classes.set(node[2]!, node[3]!);
    }
    const edge = /^(\w+) -\.?-?> (\w+)$/.exec(line) ?? /^(\w+) --> (\w+)$/.exec(line);
    if (edge) edges.push(`${edge[1]} -> ${edge[2]}`);
  }
  return {
    labels,
    classes,
    edges: edges.map((e) => e.replace(/\w+/g, (id) => labels.get(id) ?? id)),
  };
}

describe('planToMermaid', () => {
  it('links every image to its parent and styles each action with its own class', () => {
    const text = planToMermaid(makePlan(SMALL_TREE));
    expect(text.split('\n')[0]).toBe('flowchart TD');
    const { edges, classes } = parse(text);
    expect(edges).toEqual(
      expect.arrayContaining([
        'base -> 🔨 openstack-base',
        '🔨 openstack-base -> 🔨 keystone-base',
        '🔨 keystone-base -> 🔨 keystone',
        'base -> 🏷 nova-base',
        '🏷 nova-base -> nova',
        'base -> glance',
      ]),
    );
    expect(edges).toHaveLength(6);
    expect(classes.get('🔨 keystone')).toBe('build');
    expect(classes.get('🏷 nova-base')).toBe('tag');
    expect(classes.get('glance')).toBe('none');
    for (const c of ['build', 'tag', 'none']) expect(text).toMatch(new RegExp(`classDef ${c} fill:#`));
  });

  it('collapses unchanged subtrees into one counted node per parent', () => {
    // 1 base + 40 groups × (1 + 49) = 2,001 images; one service of group 3 rebuilt.
    const plan = makePlan(wideTree(40, 49, (n) => (n === 'svc-3-7' ? 'build' : 'none')));
    const graph = buildMermaid(plan, { collapseUnchanged: true });
    const { edges } = parse(graph.text);
    // base → group-3 → svc-3-7 stay; group-3's other 48 services fold; the other 39 groups
    // with their services (39 × 50) fold under base.
    expect(edges).toEqual(
      expect.arrayContaining([
        'base -> group-3',
        'group-3 -> 🔨 svc-3-7',
        'group-3 -> 48 unchanged',
        'base -> 1950 unchanged',
      ]),
    );
    expect(graph.nodes).toBe(5);
    expect(graph.edges).toBe(4);
    // Without collapsing every image is a node.
    expect(buildMermaid(plan).nodes).toBe(2001);
  });

  it('keeps a lone unchanged leaf as itself rather than "1 unchanged"', () => {
    const plan = makePlan([
      { name: 'base', action: 'build' },
      { name: 'a', parent: 'base', action: 'build' },
      { name: 'b', parent: 'base' },
    ]);
    const { edges } = parse(planToMermaid(plan, { collapseUnchanged: true }));
    expect(edges).toContain('🔨 base -> b');
  });

  it('treats an image whose parent is not in the plan as a root', () => {
    const plan = makePlan([{ name: 'keystone', parent: 'keystone-base', action: 'build' }]);
    const { labels, edges } = parse(planToMermaid(plan));
    expect([...labels.values()]).toEqual(['🔨 keystone']);
    expect(edges).toEqual([]);
  });
});
