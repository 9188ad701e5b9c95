// images.yaml → Config: parse keeping positions, validate against the JSON Schema, build the
// typed model with defaults, then check what a schema cannot (paths, references, regexes).
// Every problem found is reported at once, each with file:line:col: when the schema rejects
// parts of the file, the model is built from the rest and checked all the same.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { displayPath } from '../display-path.js';
import { ArborError, type Diagnostic, error, type SourceLocation } from '../errors.js';
import { sha256 } from '../fingerprint/canonical.js';
import { buildConfig } from './build.js';
import { configDigest } from './canonical.js';
import { checkFiles } from './check-files.js';
import { checkValues } from './check-values.js';
import { lenientRaw } from './lenient.js';
import type { Config } from './model.js';
import type { RawConfig } from './raw.js';
import { checkSchema } from './schema.js';
import type { SourceDocument } from './source.js';
import { indexedSource, readSourceIndex, sourceIndexFile, writeSourceIndex } from './source-index.js';

export interface LoadOptions {
  /** Directory that relative paths in messages (and `file`) are relative to. Default: process.cwd(). */
  cwd?: string;
}

export interface ReadResult {
  /** Present when the file could be parsed and matched the schema; it may still have diagnostics. */
  config?: Config;
  /**
   * What could be built from the file, also when the schema rejected parts of it (those are
   * left out or empty): for more checks that report with the others (the graph's), never to
   * act on. Present whenever the YAML could be read.
   */
  model?: Config;
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

  const source = await parse(absolute, text, shown);
  // Without data (a YAML syntax error) there is nothing to check further.
  if (source.data === undefined) return { diagnostics: sortDiagnostics(source.diagnostics) };

  const schema = checkSchema(source.data, source);
  const matched = schema.diagnostics.length === 0;
  const raw = matched ? (source.data as RawConfig) : lenientRaw(source.data, schema.rejected);
  const built = buildConfig(raw, {
    file: absolute,
    configDigest: configDigest(source.data),
    locate: source.locate,
    locateKey: source.locateKey,
    keysAt: source.keysAt,
  });
  // An image whose name or entry the schema rejected is still a node of the tree (its children
  // name it), but its fields are not checked.
  const checkable = built.images.filter((image) => !schema.rejected.at(['images', image.name]));
  const checked = { ...built, images: checkable };
  const files = await checkFiles(checked, schema.rejected);
  const diagnostics = sortDiagnostics([
    ...source.diagnostics,
    ...schema.diagnostics,
    ...checkValues(checked, schema.rejected),
    ...files.diagnostics,
  ]);
  const warnings = diagnostics.filter((d) => d.severity === 'warning');
  const resolved = new Map(files.images.map((image) => [image.name, image]));
  const model: Config = {
    ...built,
    images: built.images.map((image) => resolved.get(image.name) ?? image),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
  return matched ? { config: model, model, diagnostics } : { model, diagnostics };
}

/** The parsed text, from source-index.ts when this exact text was parsed cleanly before. */
async function parse(file: string, text: string, shown: string): Promise<SourceDocument> {
  const digest = sha256(text);
  const indexFile = sourceIndexFile(file);
  const stored = await readSourceIndex(indexFile, digest);
  if (stored) return indexedSource(stored, shown);
  // Loaded only here: a run over an unchanged file never loads the YAML parser.
  const { parseSource } = await import('./source.js');
  const parsed = parseSource(text, shown);
  const index = parsed.index();
  if (index) await writeSourceIndex(indexFile, digest, index);
  return parsed;
}

/** By position in the file; diagnostics without a location first. Stable. */
export function sortDiagnostics(diagnostics: Diagnostic[]): Diagnostic[] {
  const position = (loc: SourceLocation | undefined) => (loc ? loc.line * 1_000_000 + loc.col : 0);
  return [...diagnostics].sort((a, b) => position(a.loc) - position(b.loc));
}
