// images.yaml → Config: parse keeping positions, validate against the JSON Schema, build the
// typed model with defaults, then check what a schema cannot (paths, references, regexes).
// Every problem found is reported at once, each with file:line:col.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ArborError, type Diagnostic, error, type SourceLocation } from '../errors.js';
import { buildConfig } from './build.js';
import { configDigest } from './canonical.js';
import { checkFiles } from './check-files.js';
import { checkValues } from './check-values.js';
import type { Config } from './model.js';
import type { RawConfig } from './raw.js';
import { schemaDiagnostics } from './schema.js';
import { displayPath, parseSource } from './source.js';

export interface LoadOptions {
  /** Directory that relative paths in messages (and `file`) are relative to. Default: process.cwd(). */
  cwd?: string;
}

export interface ReadResult {
  /** Present when the file could be parsed and matched the schema; it may still have diagnostics. */
  config?: Config;
  /** Errors and warnings, sorted by position. */
  diagnostics: Diagnostic[];
}

/**
 * Reads, validates and checks images.yaml. Throws one ArborError carrying every error (and the
 * warnings found with them); warnings alone are returned on `config.warnings`.
 */
export async function loadConfig(file: string, options: LoadOptions = {}): Promise<Config> {
  const { config, diagnostics } = await readConfig(file, options);
  if (!config || diagnostics.some((d) => d.severity === 'error')) throw new ArborError(diagnostics);
  return config;
}

/**
 * Like loadConfig but never throws for problems in the file: returns what could be built and
 * every diagnostic, so a caller (validate) can add its own checks before reporting.
 */
export async function readConfig(file: string, options: LoadOptions = {}): Promise<ReadResult> {
  const cwd = options.cwd ?? process.cwd();
  const absolute = path.resolve(cwd, file);
  const shown = displayPath(absolute, cwd);
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message;
    return { diagnostics: [error(`cannot read ${shown}: ${reason}`)] };
  }

  const source = parseSource(text, shown);
  if (source.diagnostics.some((d) => d.severity === 'error'))
    return { diagnostics: sortDiagnostics(source.diagnostics) };

  const schemaProblems = schemaDiagnostics(source.data, source);
  if (schemaProblems.length > 0)
    return { diagnostics: sortDiagnostics([...source.diagnostics, ...schemaProblems]) };

  const built = buildConfig(source.data as RawConfig, {
    file: absolute,
    configDigest: configDigest(source.data),
    locate: source.locate,
    locateKey: source.locateKey,
    keysAt: source.keysAt,
  });
  const files = await checkFiles(built);
  const diagnostics = sortDiagnostics([...source.diagnostics, ...checkValues(built), ...files.diagnostics]);
  const warnings = diagnostics.filter((d) => d.severity === 'warning');
  const config: Config = { ...built, images: files.images, ...(warnings.length > 0 ? { warnings } : {}) };
  return { config, diagnostics };
}

/** By position in the file; diagnostics without a location first. Stable. */
export function sortDiagnostics(diagnostics: Diagnostic[]): Diagnostic[] {
  const position = (loc: SourceLocation | undefined) => (loc ? loc.line * 1_000_000 + loc.col : 0);
  return [...diagnostics].sort((a, b) => position(a.loc) - position(b.loc));
}
