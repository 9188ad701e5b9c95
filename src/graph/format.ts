// Views of the image graph: Mermaid (Markdown, PR comments), Graphviz DOT, and JSON for tools.
// They only read the graph; what the nodes mean (e.g. a plan's actions) comes in as classes.
import type { ImageGraph } from './graph.js';

export interface MermaidOptions {
  /** A class per image, e.g. the plan's action: `{ keystone: 'build' }`. */
  classes?: Readonly<Record<string, string>>;
  /** Style per class, e.g. `{ build: 'fill:#fde2e1,stroke:#c0392b' }`. */
  classDefs?: Readonly<Record<string, string>>;
}

/**
 * A `graph TD` flowchart. Node ids are positional (`n0`, `n1`, …) because image names may hold
 * characters Mermaid gives meaning to (`.`, `-`) or be keywords (`end`); names are the labels.
 */
export function toMermaid(graph: ImageGraph, options: MermaidOptions = {}): string {
  const order = graph.topologicalOrder();
  const id = new Map(order.map((name, index) => [name, `n${index}`]));
  const lines = ['graph TD'];
  for (const name of order) lines.push(`  ${id.get(name)}["${name.replaceAll('"', '#quot;')}"]`);
  for (const name of order) {
    const parent = graph.parentOf(name);
    if (parent !== undefined) lines.push(`  ${id.get(parent)} --> ${id.get(name)}`);
  }
  for (const [className, style] of Object.entries(options.classDefs ?? {})) {
    lines.push(`  classDef ${className} ${style}`);
  }
  const members = new Map<string, string[]>();
  for (const name of order) {
    const className = options.classes?.[name];
    if (className !== undefined) members.set(className, [...(members.get(className) ?? []), id.get(name)!]);
  }
  for (const [className, ids] of members) lines.push(`  class ${ids.join(',')} ${className}`);
  return `${lines.join('\n')}\n`;
}

/** Graphviz: `dot -Tsvg`. */
export function toDot(graph: ImageGraph): string {
  const order = graph.topologicalOrder();
  const lines = ['digraph images {', '  rankdir=TB;', '  node [shape=box];'];
  for (const name of order) lines.push(`  ${quote(name)};`);
  for (const name of order) {
    const parent = graph.parentOf(name);
    if (parent !== undefined) lines.push(`  ${quote(parent)} -> ${quote(name)};`);
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** JSON view of the tree; `formatVersion` changes only when a field changes meaning or goes. */
export interface GraphJson {
  formatVersion: 1;
  /** Topological order: parents before children. */
  images: Array<{
    name: string;
    /** The parent image in this graph, or null for a root. */
    parent: string | null;
    /** External base (`scratch`, a reference) for images built from outside the tree. */
    from: string | null;
    /** Direct children, in file order. */
    children: string[];
    /** Edges from the root: 0 for a root. */
    depth: number;
  }>;
}

export function toJson(graph: ImageGraph): GraphJson {
  return {
    formatVersion: 1,
    images: graph.topologicalOrder().map((name) => ({
      name,
      parent: graph.parentOf(name) ?? null,
      from: graph.image(name).from ?? null,
      children: graph.childrenOf(name),
      depth: graph.depthOf(name),
    })),
  };
}

function quote(name: string): string {
  return `"${name.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}
