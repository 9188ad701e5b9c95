// The image tree as a DAG (edges parent → child) on @dagrejs/graphlib. Built once from the
// Config after its problems (unknown parent, self-parent, cycles, duplicate names) have all
// been reported; afterwards every question about order and selection is answered here.
import { alg, Graph } from '@dagrejs/graphlib';
import type { Config, ImageConfig } from '../config/model.js';
import { didYouMean } from '../config/suggest.js';
import { ArborError, type Diagnostic, error } from '../errors.js';

export interface SelectOptions {
  /** Also select every descendant of the named images (they are rebuilt when a parent is). */
  withDescendants?: boolean;
}

type GraphSource = Pick<Config, 'images' | 'locate'>;

export class ImageGraph {
  private readonly graph: Graph;
  private readonly images: Map<string, ImageConfig>;
  /** Position in the file: ties in the topological order are broken by it. */
  private readonly fileIndex: Map<string, number>;
  private readonly order: string[];
  private readonly depths: Map<string, number>;
  private heights: Map<string, number> | undefined;

  private constructor(images: ImageConfig[], parentOf: (image: ImageConfig) => string | undefined) {
    this.graph = new Graph({ directed: true });
    this.images = new Map(images.map((image) => [image.name, image]));
    this.fileIndex = new Map(images.map((image, index) => [image.name, index]));
    for (const image of images) this.graph.setNode(image.name);
    for (const image of images) {
      const parent = parentOf(image);
      if (parent !== undefined && this.images.has(parent)) this.graph.setEdge(parent, image.name);
    }
    this.order = this.sortTopologically();
    this.depths = new Map();
    for (const name of this.order) {
      const parent = this.parentOf(name);
      this.depths.set(name, parent === undefined ? 0 : this.depths.get(parent)! + 1);
    }
  }

  /** Builds the graph, or throws one ArborError listing every structural problem. */
  static fromConfig(config: GraphSource): ImageGraph {
    const problems = ImageGraph.check(config);
    if (problems.length > 0) throw new ArborError(problems);
    return new ImageGraph(config.images, (image) => image.parent);
  }

  /** Unknown parents, self-parents, duplicate names and cycles, each at its location. */
  static check(config: GraphSource): Diagnostic[] {
    const problems: Diagnostic[] = [];
    const names = new Set<string>();
    for (const image of config.images) {
      if (names.has(image.name))
        problems.push(error('duplicate image name', { loc: image.loc, image: image.name }));
      names.add(image.name);
    }
    const graph = new Graph({ directed: true });
    for (const image of config.images) graph.setNode(image.name);
    for (const image of config.images) {
      if (image.parent === undefined) continue;
      const loc = config.locate(['images', image.name, 'parent']);
      if (image.parent === image.name) {
        problems.push(error('is its own parent', { loc, image: image.name }));
      } else if (!names.has(image.parent)) {
        const hint = didYouMean(image.parent, names);
        problems.push(error(`unknown parent "${image.parent}"${hint}`, { loc, image: image.name }));
      } else {
        graph.setEdge(image.parent, image.name);
      }
    }
    problems.push(...cycleProblems(config, graph));
    return problems;
  }

  /** Number of images. */
  get size(): number {
    return this.images.size;
  }

  has(name: string): boolean {
    return this.images.has(name);
  }

  /** Image names in file order. */
  names(): string[] {
    return [...this.images.keys()];
  }

  image(name: string): ImageConfig {
    return this.images.get(this.known(name))!;
  }

  /** Parents before children; among images that could come next, the one earlier in the file first. */
  topologicalOrder(): string[] {
    return [...this.order];
  }

  parentOf(name: string): string | undefined {
    return this.graph.predecessors(this.known(name))?.[0];
  }

  /** Direct children, in file order. */
  childrenOf(name: string): string[] {
    return this.byFileOrder(this.graph.successors(this.known(name)) ?? []);
  }

  /** Parent, grandparent, … up to the root (nearest first). */
  ancestorsOf(name: string): string[] {
    const ancestors: string[] = [];
    for (let parent = this.parentOf(name); parent !== undefined; parent = this.parentOf(parent)) {
      ancestors.push(parent);
    }
    return ancestors;
  }

  /** Every image below `name`, in topological order. */
  descendantsOf(name: string): string[] {
    const found = new Set(alg.preorder(this.graph, [this.known(name)]));
    found.delete(name);
    return this.order.filter((n) => found.has(n));
  }

  /** Images without a parent in this graph, in file order. */
  roots(): string[] {
    return this.byFileOrder(this.graph.sources());
  }

  /** Edges from the root: 0 for a root. */
  depthOf(name: string): number {
    return this.depths.get(this.known(name))!;
  }

  /**
   * Edges on the longest path from `name` down to a leaf (0 for a leaf). A scheduler starting
   * the image with the longest remaining path first finishes the whole tree soonest.
   */
  longestPathToLeaf(name: string): number {
    if (!this.heights) {
      const heights = new Map<string, number>();
      for (const node of [...this.order].reverse()) {
        const children = this.graph.successors(node) ?? [];
        heights.set(node, children.length === 0 ? 0 : 1 + Math.max(...children.map((c) => heights.get(c)!)));
      }
      this.heights = heights;
    }
    return this.heights.get(this.known(name))!;
  }

  /**
   * The named images plus their ancestors (needed to build them), plus their descendants when
   * asked, in topological order. Unknown names are an ArborError (all of them, with suggestions).
   */
  select(only: readonly string[], options: SelectOptions = {}): string[] {
    const unknown = only.filter((name) => !this.images.has(name));
    if (unknown.length > 0) throw new ArborError(unknown.map((name) => this.unknownImage(name)));
    const selected = new Set<string>();
    for (const name of only) {
      selected.add(name);
      for (const ancestor of this.ancestorsOf(name)) selected.add(ancestor);
      if (options.withDescendants)
        for (const descendant of this.descendantsOf(name)) selected.add(descendant);
    }
    return this.order.filter((name) => selected.has(name));
  }

  /** The graph restricted to `names`; an image whose parent is left out becomes a root. */
  subgraph(names: readonly string[]): ImageGraph {
    const keep = new Set(names.map((name) => this.known(name)));
    const images = this.names()
      .filter((name) => keep.has(name))
      .map((name) => this.images.get(name)!);
    return new ImageGraph(images, (image) => {
      const parent = this.parentOf(image.name);
      return parent !== undefined && keep.has(parent) ? parent : undefined;
    });
  }

  private known(name: string): string {
    if (!this.images.has(name)) throw new ArborError([this.unknownImage(name)]);
    return name;
  }

  private unknownImage(name: string): Diagnostic {
    return error(`unknown image "${name}"${didYouMean(name, this.images.keys())}`);
  }

  private byFileOrder(names: string[]): string[] {
    return [...names].sort((a, b) => this.fileIndex.get(a)! - this.fileIndex.get(b)!);
  }

  /** Kahn's algorithm; the ready image earliest in the file goes first, so the order is stable. */
  private sortTopologically(): string[] {
    const ready = this.roots();
    const order: string[] = [];
    while (ready.length > 0) {
      const next = ready.shift()!;
      order.push(next);
      for (const child of this.graph.successors(next) ?? []) insertSorted(ready, child, this.fileIndex);
    }
    return order;
  }
}

/** Every cycle once, as `a → b → c → a` following each image's parent, at the first image's `parent`. */
function cycleProblems(config: GraphSource, graph: Graph): Diagnostic[] {
  const fileIndex = new Map(config.images.map((image, index) => [image.name, index]));
  const problems: Diagnostic[] = [];
  const cycles = alg
    .findCycles(graph)
    .map((members) => [...members].sort((a, b) => fileIndex.get(a)! - fileIndex.get(b)!))
    .sort((a, b) => fileIndex.get(a[0]!)! - fileIndex.get(b[0]!)!);
  for (const members of cycles) {
    const start = members[0]!;
    const path = [start];
    // In a graph where every image has one parent, a strongly connected component is one ring.
    for (let node = graph.predecessors(start)![0]!; node !== start; node = graph.predecessors(node)![0]!) {
      path.push(node);
    }
    path.push(start);
    problems.push(
      error(`images form a cycle: ${path.join(' → ')} (each image's parent follows it)`, {
        loc: config.locate(['images', start, 'parent']),
        image: start,
      }),
    );
  }
  return problems;
}

function insertSorted(list: string[], name: string, index: Map<string, number>): void {
  const key = index.get(name)!;
  let low = 0;
  let high = list.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (index.get(list[mid]!)! < key) low = mid + 1;
    else high = mid;
  }
  list.splice(low, 0, name);
}
