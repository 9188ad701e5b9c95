// The plan as a Mermaid flowchart (GitHub and GitLab render it in comments): images linked
// parent → child, styled by action. Large trees collapse subtrees where nothing changes, so a
// reviewer sees the rebuilt paths and a count of what stays, not 2,000 grey boxes.
import { type Forest, indexByParent } from '../../graph/forest.js';
import type { Action, Plan, PlannedImage } from '../model.js';

export interface MermaidOptions {
  /** Replace every group of sibling subtrees that are entirely unchanged by one `N unchanged` node. */
  collapseUnchanged?: boolean;
}

export interface MermaidGraph {
  /** The flowchart source, without code fences. */
  text: string;
  nodes: number;
  edges: number;
}

const CLASS_DEFS = [
  // Colours readable on GitHub's light and dark themes; text colour fixed so dark mode stays legible.
  'classDef build fill:#ffebe9,stroke:#cf222e,color:#1f2328,stroke-width:2px',
  'classDef tag fill:#fff8c5,stroke:#9a6700,color:#1f2328',
  'classDef none fill:#f6f8fa,stroke:#8c959f,color:#57606a',
];

const ICON: Record<Action, string> = { build: '🔨 ', tag: '🏷 ', none: '' };

export function planToMermaid(plan: Plan, options: MermaidOptions = {}): string {
  return buildMermaid(plan, options).text;
}

/** Like planToMermaid, with node and edge counts (renderers refuse graphs over their edge limit). */
export function buildMermaid(plan: Plan, options: MermaidOptions = {}): MermaidGraph {
  const tree = indexTree(plan.images);
  const lines = ['flowchart TD'];
  const ids = new Map<string, string>();
  let nodes = 0;
  let edges = 0;
  let collapsedNodes = 0;

  const nodeId = (name: string): string => {
    let id = ids.get(name);
    if (!id) {
      id = `n${ids.size}`;
      ids.set(name, id);
    }
    return id;
  };

  const visit = (image: PlannedImage, parentId: string | null): void => {
    const id = nodeId(image.name);
    lines.push(`  ${id}["${label(ICON[image.action] + image.name)}"]:::${image.action}`);
    nodes++;
    if (parentId) {
      lines.push(`  ${parentId} --> ${id}`);
      edges++;
    }
    visitChildren(tree.children.get(image.name) ?? [], id);
  };

  const visitChildren = (children: PlannedImage[], parentId: string | null): void => {
    let unchanged = 0;
    for (const child of children) {
      if (options.collapseUnchanged && tree.unchangedSize.has(child.name)) {
        unchanged += tree.unchangedSize.get(child.name)!;
      } else {
        visit(child, parentId);
      }
    }
    if (unchanged === 0) return;
    // A lone unchanged leaf is clearer as itself than as "1 unchanged".
    const lone = children.filter((c) => tree.unchangedSize.has(c.name));
    if (unchanged === 1 && lone.length === 1) {
      visit(lone[0]!, parentId);
      return;
    }
    const id = `u${collapsedNodes++}`;
    lines.push(`  ${id}(["${unchanged} unchanged"]):::none`);
    nodes++;
    if (parentId) {
      lines.push(`  ${parentId} -.-> ${id}`);
      edges++;
    }
  };

  visitChildren(tree.roots, null);
  lines.push(...CLASS_DEFS.map((d) => `  ${d}`));
  return { text: lines.join('\n'), nodes, edges };
}

interface Tree extends Forest<PlannedImage> {
  /** For every image whose whole subtree is unchanged: the subtree's size. */
  unchangedSize: Map<string, number>;
}

function indexTree(images: PlannedImage[]): Tree {
  // A parent missing from the plan (a partial plan, `--only`) makes the image a root here.
  const { children, roots } = indexByParent(images);
  const unchangedSize = new Map<string, number>();
  // Post-order without recursion depth limits: a 2,000-deep chain must not overflow the stack.
  const order: PlannedImage[] = [];
  const stack = [...roots];
  while (stack.length > 0) {
    const image = stack.pop()!;
    order.push(image);
    stack.push(...(children.get(image.name) ?? []));
  }
  for (let i = order.length - 1; i >= 0; i--) {
    const image = order[i]!;
    if (image.action !== 'none') continue;
    let size = 1;
    let allUnchanged = true;
    for (const child of children.get(image.name) ?? []) {
      const childSize = unchangedSize.get(child.name);
      if (childSize === undefined) {
        allUnchanged = false;
        break;
      }
      size += childSize;
    }
    if (allUnchanged) unchangedSize.set(image.name, size);
  }
  return { roots, children, unchangedSize };
}

/** Mermaid label text inside `["…"]`: quotes and angle brackets as entity codes. */
function label(text: string): string {
  return text.replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;');
}
