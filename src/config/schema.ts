// Validates the parsed document against schemas/images.schema.json (the same file editors use
// through the yaml-language-server comment) and turns ajv's errors into messages a person can
// act on, each at the position of the offending node.
import type { ErrorObject } from 'ajv';
import { type Diagnostic, error, quote } from '../errors.js';
import { validate as generated } from './images-schema.validator.js';
import { NOTHING_REJECTED, type Rejected, rejectedPaths } from './rejected.js';
import type { DataPath, SourceDocument } from './source.js';
import { didYouMean } from './suggest.js';

// The schema compiled ahead of time (scripts/gen-schema-validator.mjs holds the ajv options), so
// no run pays for compiling it; a unit test fails when it is older than the schema.
const validate = generated as unknown as { (data: unknown): boolean; errors?: ErrorObject[] | null };

export interface SchemaReport {
  /** Every schema violation, with locations. */
  diagnostics: Diagnostic[];
  /** The nodes those violations are about, for the checks that run after the schema. */
  rejected: Rejected;
}

/** Every schema violation of `data`, all at once, with locations from `source`. */
export function schemaDiagnostics(data: unknown, source: SourceDocument): Diagnostic[] {
  return checkSchema(data, source).diagnostics;
}

/** Like schemaDiagnostics, and also says which nodes were rejected. */
export function checkSchema(data: unknown, source: SourceDocument): SchemaReport {
  if (validate(data)) return { diagnostics: [], rejected: NOTHING_REJECTED };
  const errors = relevant(validate.errors ?? []);
  return {
    diagnostics: humanize(errors, data, source),
    rejected: rejectedPaths(errors.flatMap((e) => rejectedPath(e, data))),
  };
}

const COMPOSITE = new Set(['oneOf', 'anyOf', 'not']);
const STRING_KEYWORDS = new Set(['pattern', 'minLength', 'maxLength', 'format']);

/** The errors that say something: not the branches of a composite, not a failing `if`. */
function relevant(errors: ErrorObject[]): ErrorObject[] {
  // Branch errors of oneOf/not explain nothing to a user; the composite error (with its
  // errorMessage annotation) does.
  const composites = errors.filter((e) => COMPOSITE.has(e.keyword)).map((e) => `${e.schemaPath}/`);
  // A value of the wrong type fails the keywords about its content too (an image written as a
  // string "needs exactly one of parent or from"); its type is the one thing to say about it.
  const wrongType = new Set(errors.filter((e) => e.keyword === 'type').map((e) => e.instancePath));
  return errors.filter((e) => {
    if (wrongType.has(e.instancePath) && e.keyword !== 'type') return false;
    if (composites.some((prefix) => e.schemaPath.startsWith(prefix))) return false;
    // `if` fails whenever its `then` does; the `then` error says what is missing.
    if (e.keyword === 'if') return false;
    return true;
  });
}

/**
 * The node an error is about. Errors about which keys a mapping has point at the key, not the
 * mapping, so the rest of the mapping is still checked; a oneOf/not about the combination of
 * keys rejects no single node.
 */
function rejectedPath(e: ErrorObject, data: unknown): DataPath[] {
  const path = pointerToPath(e.instancePath);
  const params = e.params as Record<string, unknown>;
  // A string keyword failing on a non-string is about a property name (see humanize); the
  // propertyNames error that follows it names the property.
  if (STRING_KEYWORDS.has(e.keyword) && !isStringAt(data, e)) return [];
  switch (e.keyword) {
    case 'additionalProperties':
      return [[...path, String(params.additionalProperty)]];
    case 'required':
      return [[...path, String(params.missingProperty)]];
    case 'propertyNames':
      return [[...path, String(params.propertyName)]];
    case 'uniqueItems':
      return [[...path, Math.max(Number(params.i), Number(params.j))]];
    case 'oneOf':
    case 'anyOf':
    case 'not':
      return [];
    default:
      return [path];
  }
}

function isStringAt(data: unknown, e: ErrorObject): boolean {
  return typeof valueAt(data, pointerToPath(e.instancePath)) === 'string';
}

/** The relevant errors in ajv's order, as messages a person can act on. */
function humanize(errors: ErrorObject[], data: unknown, source: SourceDocument): Diagnostic[] {
  const result: Diagnostic[] = [];
  // propertyNames reports the name's own errors first (at the object's path, without the name),
  // then one propertyNames error carrying the name. Hold the former until the latter arrives.
  let pendingNameErrors: ErrorObject[] = [];
  for (const e of errors) {
    if (STRING_KEYWORDS.has(e.keyword) && !isStringAt(data, e)) {
      pendingNameErrors.push(e);
      continue;
    }
    if (e.keyword === 'propertyNames') {
      const causes = pendingNameErrors.filter((p) => p.instancePath === e.instancePath);
      pendingNameErrors = pendingNameErrors.filter((p) => p.instancePath !== e.instancePath);
      result.push(propertyNameDiagnostic(e, causes, source));
      continue;
    }
    result.push(keywordDiagnostic(e, data, source));
  }
  return dedupe(result);
}

function propertyNameDiagnostic(e: ErrorObject, causes: ErrorObject[], source: SourceDocument): Diagnostic {
  const name = String((e.params as { propertyName: string }).propertyName);
  const path = [...pointerToPath(e.instancePath), name];
  const reasons = causes.map((c) => annotation(c) ?? plainStringProblem(c));
  const what = path[0] === 'images' && path.length === 2 ? 'image name' : 'name';
  const reason = reasons.length > 0 ? reasons.join('; ') : 'not allowed here';
  return error(`invalid ${what} ${quote(name)}: ${reason}`, { loc: source.locateKey(path) });
}

function keywordDiagnostic(e: ErrorObject, data: unknown, source: SourceDocument): Diagnostic {
  const path = pointerToPath(e.instancePath);
  const loc = source.locate(path);
  const value = valueAt(data, path);
  // Inside an image, say "image keystone: inputs.files[0] …" rather than the full path.
  const image = path[0] === 'images' && path.length >= 2 ? String(path[1]) : undefined;
  const at = image === undefined ? { loc } : { loc, image };
  const inner = image === undefined ? path : path.slice(2);
  const subject = inner.length > 0 ? describePath(inner) : image === undefined ? 'the file' : 'the image';
  const custom = e.keyword === 'pattern' ? undefined : annotation(e);
  if (custom !== undefined) return error(custom, at);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String(params.additionalProperty);
      const known = Object.keys((e.parentSchema?.properties as object | undefined) ?? {});
      const where = inner.length > 0 ? ` in ${subject}` : '';
      // YAML 1.2 has no merge keys; the parser reads `<<` as an ordinary key.
      const hint =
        key === '<<'
          ? ': YAML merge keys are not supported (YAML 1.2); write the keys out, or share values through variables'
          : didYouMean(key, known);
      return error(`unknown key ${quote(key)}${where}${hint}`, {
        ...at,
        loc: source.locateKey([...path, key]),
      });
    }
    case 'required': {
      const key = String(params.missingProperty);
      return error(`${inner.length > 0 ? `${subject}: ` : ''}missing required key ${quote(key)}`, at);
    }
    case 'type':
      return error(`${subject} must be ${typeNames(params.type)}, not ${describeValue(value)}`, at);
    case 'const':
      return error(`${subject} must be ${JSON.stringify(params.allowedValue)}, not ${shown(value)}`, at);
    case 'enum': {
      const allowed = (params.allowedValues as unknown[]).map(String);
      const hint = typeof value === 'string' ? didYouMean(value, allowed) : '';
      return error(`${subject} must be one of ${allowed.join(', ')}, not ${shown(value)}${hint}`, at);
    }
    case 'pattern':
    case 'minLength':
    case 'maxLength':
    case 'format':
      return error(`${subject} ${shown(value)}: ${plainStringProblem(e)}`, at);
    case 'minimum':
      return error(`${subject} must be at least ${params.limit}, not ${shown(value)}`, at);
    case 'minItems':
    case 'minProperties':
      return error(
        params.limit === 1
          ? `${subject} must not be empty`
          : `${subject} needs at least ${params.limit} entries`,
        at,
      );
    case 'uniqueItems': {
      const { i, j } = params as { i: number; j: number };
      return error(`${subject} lists ${shown(valueAt(data, [...path, i]))} twice`, {
        ...at,
        loc: source.locate([...path, Math.max(i, j)]),
      });
    }
    default:
      return error(`${subject} ${e.message ?? 'is invalid'}`, at);
  }
}

/** errorMessage / patternErrorMessage written next to the failing keyword in the schema. */
function annotation(e: ErrorObject): string | undefined {
  const schema = e.parentSchema as Record<string, unknown> | undefined;
  if (!schema) return undefined;
  if (e.keyword === 'pattern' && typeof schema.patternErrorMessage === 'string')
    return schema.patternErrorMessage;
  return typeof schema.errorMessage === 'string' ? schema.errorMessage : undefined;
}

function plainStringProblem(e: ErrorObject): string {
  const params = e.params as { limit?: number; pattern?: string };
  switch (e.keyword) {
    case 'pattern':
      return annotation(e) ?? `must match ${params.pattern}`;
    case 'minLength':
      return params.limit === 1 ? 'must not be empty' : `must be at least ${params.limit} characters long`;
    case 'maxLength':
      return `must be at most ${params.limit} characters long`;
    default:
      return e.message ?? 'is invalid';
  }
}

/** `images.keystone.parent`, `retention[0].keep_last`. */
function describePath(path: DataPath): string {
  let text = '';
  for (const segment of path) {
    text += typeof segment === 'number' ? `[${segment}]` : text === '' ? segment : `.${segment}`;
  }
  return text;
}

function typeNames(type: unknown): string {
  const names: Record<string, string> = {
    string: 'a string',
    number: 'a number',
    integer: 'a whole number',
    boolean: 'true or false',
    object: 'a mapping (key: value)',
    array: 'a list',
    null: 'empty',
  };
  const list = Array.isArray(type) ? type : [type];
  return list.map((t) => names[String(t)] ?? String(t)).join(' or ');
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'empty';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'number') return `the number ${value}`;
  return `${typeof value} ${shown(value)}`;
}

/** A value from the file for a message: short, whatever its size. */
function shown(value: unknown): string {
  if (typeof value === 'string') return quote(value);
  const text = JSON.stringify(value) ?? String(value);
  return text.length <= 80
    ? text
    : `${text.slice(0, 80)}… (${text.length.toLocaleString('en-US')} characters)`;
}

function pointerToPath(pointer: string): Array<string | number> {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function valueAt(data: unknown, path: DataPath): unknown {
  let current: unknown = data;
  for (const segment of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[segment];
  }
  return current;
}

function dedupe(list: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return list.filter((d) => {
    const key = `${d.loc?.line}:${d.loc?.col}:${d.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
