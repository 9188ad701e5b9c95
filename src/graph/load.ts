// One call for commands that need the tree: load images.yaml and build its graph, reporting
// the file's problems and the graph's problems together, all at once.
import { type LoadOptions, readConfig, sortDiagnostics } from '../config/load.js';
import type { Config } from '../config/model.js';
import { ArborError } from '../errors.js';
import { ImageGraph } from './graph.js';

export interface LoadedTree {
  config: Config;
  graph: ImageGraph;
}

/** Like loadConfig, plus unknown parents, self-parents and cycles in the same report. */
export async function loadImageGraph(file: string, options: LoadOptions = {}): Promise<LoadedTree> {
  const { config, model, diagnostics } = await readConfig(file, options);
  // The graph of what could be built, also when the schema rejected parts: one run, every problem.
  const all = model ? sortDiagnostics([...diagnostics, ...ImageGraph.check(model)]) : diagnostics;
  if (!config || all.some((d) => d.severity === 'error')) throw new ArborError(all);
  return { config, graph: ImageGraph.fromConfig(config) };
}
