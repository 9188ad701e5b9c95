// Every command of the CLI, one file each. Adding a command: write commands/NAME.ts exporting
// `register(program)`, and add it to this table.
//
// Commands are loaded on demand: `arbor plan` loads plan's modules only (the bundle splits them
// into chunks), so start-up does not pay for the registry client, builders, retention and
// publishing code of commands that are not run. Help without a command loads them all.
import type { Command } from 'commander';

type CommandModule = { register: (program: Command) => void };

const commands: Record<string, () => Promise<CommandModule>> = {
  validate: () => import('./validate.js'),
  graph: () => import('./graph.js'),
  plan: () => import('./plan.js'),
  apply: () => import('./apply.js'),
  fingerprint: () => import('./fingerprint.js'),
  render: () => import('./render.js'),
  explain: () => import('./explain.js'),
  comment: () => import('./comment.js'),
  export: () => import('./export.js'),
  retention: () => import('./retention.js'),
  usage: () => import('./usage.js'),
  ls: () => import('./ls.js'),
  inspect: () => import('./inspect.js'),
  'import-kolla': () => import('./import-kolla.js'),
  unpack: () => import('./unpack.js'),
  bundle: () => import('./bundle.js'),
  verify: () => import('./verify.js'),
  releases: () => import('./releases.js'),
  promote: () => import('./promote.js'),
  sync: () => import('./sync.js'),
  diff: () => import('./diff.js'),
};

/** Registers the command named in argv, or every command when none is (help, typos). */
export async function registerCommands(program: Command, argv: string[]): Promise<void> {
  const named = argv.slice(2).find((arg) => !arg.startsWith('-'));
  const selected = named !== undefined && named in commands ? [named] : Object.keys(commands);
  const modules = await Promise.all(selected.map((name) => commands[name]!()));
  for (const module of modules) module.register(program);
}
