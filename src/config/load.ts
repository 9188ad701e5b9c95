// images.yaml → Config: parse keeping positions, validate against the JSON Schema, build the
// typed model with defaults, then check what a schema cannot (paths, references, regexes).
// Every problem found is reported at once, each with file:line:col: when the schema rejects
// parts of the file, the model is built from the rest and checked all the same.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { displayPath } from '../display-path.js';
import { ArborError, type Diagnostic, error, type SourceLocation } from '../errors.js';
import { firstInvalidUtf8, lineAndColumn } from '../utf8-text.js';
import { buildConfig } from './build.js';
import { configDigest } from './canonical.js';
import { checkValues } from './check-values.js';
import { lenientRaw } from './lenient.js';
import type { Config } from './model.js';
import { numbersReadOtherwise } from './number-text.js';
import { parseStored } from './parse-stored.js';
import type { RawConfig } from './raw.js';
import { checkSchema } from './schema.js';

export interface LoadOptions {
  /** Directory that relative paths in messages (and `file`) are relative to. Default: process.cwd(). */
  cwd?: string;
  /**
   * Called with the config as soon as the file itself is known to be good (YAML, schema, values),
   * before the checks of the paths it names: a command whose first work is on the network
   * (promote) starts it then. The load may still fail on those checks; images lack the
   * default templates those checks fill in.
   */
  beforePathChecks?: (config: Config) => void;
  /**
   * False: the paths images.yaml names (contexts, templates, inputs) are not checked, for a
   * command that acts on what is in a registry, never on the checkout (promote of a named
   * release). Default true.
   */
  pathChecks?: boolean;
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
  let bytes: Buffer;
  try {
    bytes = await readFile(absolute);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (e as Error).message;
    return { diagnostics: [error(`cannot read ${shown}: ${reason}`)] };
  }
  const text = configText(bytes, shown);
  if (typeof text !== 'string') return { diagnostics: [text] };

  const source = await parseStored(absolute, text, shown);
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
  const values = checkValues(checked, schema.rejected);
  if (
    matched &&
    ![...source.diagnostics, ...values].some((d) => d.severity === 'error') &&
    options.beforePathChecks
  ) {
    options.beforePathChecks(built);
    // The caller's first requests leave now, before the checks and the graph that follow (about
    // 15 ms of CPU for 187 images) rather than after them: their promise reactions run first.
    await new Promise((resolve) => setImmediate(resolve));
  }
  // Loaded only to be used: with picomatch, 70 KB that a promotion of a named release (which
  // never looks at the checkout) would compile for nothing.
  const files =
    options.pathChecks === false
      ? { diagnostics: [], images: [] }
      : await (await import('./check-files.js')).checkFiles(checked, schema.rejected);
  const diagnostics = sortDiagnostics([
    ...source.diagnostics,
    ...schema.diagnostics,
    ...numbersReadOtherwise(source.data, text, source.locate),
    ...values,
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

/** Larger than any tree's images.yaml (a 2,000-image tree is about 1 MB): not parsed at all. */
export const CONFIG_MAX_BYTES = 32 * 1024 * 1024;

/**
 * The file as text, or why it is not an images.yaml worth parsing: too large, or not text (a
 * NUL byte or invalid UTF-8, e.g. a binary given by mistake). Summarised, never echoed.
 */
function configText(bytes: Buffer, shown: string): string | Diagnostic {
  // Only for messages: the first toLocaleString of a process loads ICU's number formatting,
  // ≈ 20 ms of every command's start-up for a string a valid file never shows.
  const size = () => `${bytes.length.toLocaleString('en-US')} bytes`;
  if (bytes.length > CONFIG_MAX_BYTES)
    return error(`${size()}: too large for an images file (at most ${CONFIG_MAX_BYTES / 1024 / 1024} MiB)`, {
      loc: { file: shown, line: 1, col: 1 },
    });
  // Windows editors save "Unicode" as UTF-16, whose byte-order mark is no UTF-8 at all.
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))
    return error('UTF-16 text (it starts with a UTF-16 byte-order mark): save the file as UTF-8', {
      loc: { file: shown, line: 1, col: 1 },
    });
  const nul = bytes.indexOf(0);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(nul >= 0 ? bytes.subarray(0, nul) : bytes);
  } catch {
    const bad = firstInvalidUtf8(bytes);
    return error(`not a text file (${size()}; invalid UTF-8 at byte ${bad})`, {
      loc: positionOf(bytes, bad, shown),
    });
  }
  if (nul >= 0)
    return error(`not a text file (${size()}; a NUL byte at byte ${nul})`, {
      loc: positionOf(bytes, nul, shown),
    });
  return text;
}

/** 1-based line and column (in bytes) of a byte offset. */
function positionOf(bytes: Buffer, offset: number, file: string): SourceLocation {
  return { file, ...lineAndColumn(bytes, offset) };
}

/** By position in the file; diagnostics without a location first. Stable. */
export function sortDiagnostics(diagnostics: Diagnostic[]): Diagnostic[] {
  const position = (loc: SourceLocation | undefined) => (loc ? loc.line * 1_000_000 + loc.col : 0);
  return [...diagnostics].sort((a, b) => position(a.loc) - position(b.loc));
}
