// Flags shared by the commands that read images.yaml, declared once.
import { type Command, Option } from 'commander';
import { ArborError, formatDiagnostic } from '../errors.js';
import type { PlanRequest } from '../plan-tree.js';
import type { Platform } from '../registry/manifest-model.js';
import { registryProblem, repositoryProblem, tagProblem } from '../registry/reference.js';
import { err } from './io.js';

export interface TreeFlags {
  file: string;
  only?: string[];
  withDescendants?: boolean;
  debug?: boolean;
}

export function fileOption(cmd: Command): Command {
  return cmd.option('-f, --file <path>', 'the image tree', 'images.yaml');
}

export function selectionOptions(cmd: Command): Command {
  return cmd
    .option('--only <name...>', 'only these images (and their ancestors, needed to build them)')
    .option('--with-descendants', 'with --only: also every image built on the selected ones');
}

export function formatOption(cmd: Command, formats: string[], fallback: string): Command {
  return cmd.addOption(new Option('--format <format>', 'output format').choices(formats).default(fallback));
}

/** A debug sink for registry/process details, or undefined when --debug is off. */
export function debugSink(flags: { debug?: boolean }): ((line: string) => void) | undefined {
  // Each line says when it was written (ms since the process started): a timeline of the run.
  return flags.debug
    ? (line) => process.stderr.write(`debug: +${Math.round(performance.now())} ms ${line}\n`)
    : undefined;
}

/** Flags of the commands that plan the tree now (`plan`, `apply` without a saved plan). */
export interface PlanningFlags extends TreeFlags {
  /** False with `--no-retention`. */
  retention: boolean;
}

/** The planTree request of `arbor plan` and `arbor apply`, built once so both plan alike. */
export function planRequestFrom(flags: PlanningFlags): PlanRequest {
  const debug = debugSink(flags);
  return {
    file: flags.file,
    ...(flags.only ? { only: flags.only } : {}),
    ...(flags.withDescendants ? { withDescendants: true } : {}),
    ...(debug ? { debug } : {}),
    retention: flags.retention,
    onWarning: (w) => err(formatDiagnostic(w)),
  };
}

/** `--platform os/arch[/variant]` */
export function parsePlatform(value: string): Platform {
  const [os, architecture, variant, ...rest] = value.split('/');
  if (!os || !architecture || rest.length > 0)
    throw new ArborError(`--platform must be os/arch[/variant] (e.g. linux/amd64), not "${value}"`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** A commander parser that refuses, naming the flag, a value `problem` finds fault with. */
function checkedValue(flag: string, problem: (value: string) => string | null): (value: string) => string {
  return (value) => {
    const found = problem(value);
    if (found) throw new ArborError(`${flag} "${value}": ${found}`);
    return value;
  };
}

/**
 * A flag naming a tag or a release (`--tag`, `--release`, `--since`): its value goes into registry
 * URLs, so one that is not a tag (`../x`, `a b`) is refused before any request, not sent to a path
 * it was never meant for.
 */
export const tagValue = (flag: string) => checkedValue(flag, tagProblem);

/** A registry flag (`host[:port]`), checked as images.yaml's `registry.url` is. */
export const registryValue = (flag: string) => checkedValue(flag, registryProblem);

/** A namespace flag, checked as images.yaml's `registry.namespace` is (empty: none). */
export const namespaceValue = (flag: string) =>
  checkedValue(flag, (value) => (value === '' ? null : repositoryProblem(value)));
