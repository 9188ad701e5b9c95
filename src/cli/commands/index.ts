// Every command of the CLI, one file each. Adding a command: write commands/NAME.ts exporting
// `register(program)`, and add it to this list.
import type { Command } from 'commander';
import * as apply from './apply.js';
import * as comment from './comment.js';
import * as explain from './explain.js';
import * as exportCommand from './export.js';
import * as fingerprint from './fingerprint.js';
import * as graph from './graph.js';
import * as inspect from './inspect.js';
import * as ls from './ls.js';
import * as plan from './plan.js';
import * as render from './render.js';
import * as retention from './retention.js';
import * as usage from './usage.js';
import * as validate from './validate.js';

type Register = (program: Command) => void;

const commands: Register[] = [
  validate.register,
  graph.register,
  plan.register,
  apply.register,
  fingerprint.register,
  render.register,
  explain.register,
  comment.register,
  exportCommand.register,
  retention.register,
  usage.register,
  ls.register,
  inspect.register,
];

export function registerCommands(program: Command): void {
  for (const register of commands) register(program);
}
