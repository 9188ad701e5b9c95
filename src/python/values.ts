// The values of the Python interpreter (interpret.ts), kept as close to plain JavaScript as
// possible so they go straight into images.yaml and templates: str → string, int/float → number,
// bool → boolean, None → null, list → array, tuple → frozen array, dict → plain object with no
// prototype, set → Set. What cannot be known without running the real program (the host, the
// network, the container engine) is UNKNOWN, which spreads through every expression that uses it.

import type { Param, Stmt } from './parse.js';

export class Unknown {
  constructor(readonly reason: string) {}
  toString(): string {
    return `<unknown: ${this.reason}>`;
  }
}

export const unknown = (reason: string): Unknown => new Unknown(reason);

export function isUnknown(value: unknown): value is Unknown {
  return value instanceof Unknown;
}

export interface PyDict {
  [key: string]: PyValue;
}

/** An object implemented in TypeScript: modules, oslo.config, match objects. */
export interface NativeObject {
  readonly pyType: string;
  getattr(name: string): PyValue | undefined;
  setattr?(name: string, value: PyValue): void;
  getitem?(key: PyValue): PyValue;
  iterate?(): PyValue[];
  /** `x in obj` */
  contains?(key: PyValue): boolean;
}

export class PyFunction {
  constructor(
    readonly name: string,
    readonly params: Param[],
    readonly body: Stmt[],
    /** Default values, evaluated when the def ran. */
    readonly defaults: Map<string, PyValue>,
    readonly closure: Scope,
    readonly isGenerator: boolean,
  ) {}
}

export class BoundMethod {
  constructor(
    readonly fn: PyFunction,
    readonly self: PyValue,
  ) {}
}

export class PyClass {
  constructor(
    readonly name: string,
    readonly attrs: Map<string, PyValue>,
    readonly bases: PyClass[],
    /** A base could not be loaded: its metaclass may change what the attributes are. */
    readonly opaqueBase = false,
  ) {}

  lookup(name: string): PyValue | undefined {
    if (this.attrs.has(name)) return this.attrs.get(name);
    for (const base of this.bases) {
      const found = base.lookup(name);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  isSubclassOf(other: PyClass): boolean {
    return this === other || this.bases.some((b) => b.isSubclassOf(other));
  }
}

export class PyInstance {
  readonly attrs = new Map<string, PyValue>();
  constructor(readonly cls: PyClass) {}
}

/** A raised exception: its class name and message. */
export class PyException extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly cls?: PyClass,
  ) {
    super(message);
    this.name = type;
  }
}

/** A function written in TypeScript: positional arguments, then keyword arguments. */
export type NativeFunction = (args: PyValue[], kwargs: Record<string, PyValue>) => PyValue;

export class Builtin {
  constructor(
    readonly name: string,
    readonly fn: NativeFunction,
  ) {}
}

export type PyValue =
  | string
  | number
  | boolean
  | null
  | PyValue[]
  | PyDict
  | Set<PyValue>
  | PyFunction
  | BoundMethod
  | PyClass
  | PyInstance
  | Builtin
  | NativeObject
  | PyException
  | Unknown;

export class Scope {
  readonly vars = new Map<string, PyValue>();
  readonly globalNames = new Set<string>();
  constructor(
    readonly parent: Scope | null,
    /** The module scope (for `global`). */
    readonly module: Scope | null = null,
  ) {}

  lookup(name: string): PyValue | undefined {
    for (let s: Scope | null = this; s !== null; s = s.parent) if (s.vars.has(name)) return s.vars.get(name);
    return undefined;
  }

  assign(name: string, value: PyValue): void {
    if (this.globalNames.has(name) && this.module) this.module.vars.set(name, value);
    else this.vars.set(name, value);
  }
}

export function dict(entries: Iterable<[string, PyValue]> = []): PyDict {
  const d = Object.create(null) as PyDict;
  for (const [k, v] of entries) d[k] = v;
  return d;
}

export function isDict(value: unknown): value is PyDict {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}

export function isTuple(value: unknown): boolean {
  return Array.isArray(value) && Object.isFrozen(value);
}

export function tuple(items: PyValue[]): PyValue[] {
  return Object.freeze(items) as PyValue[];
}

export function isNative(value: unknown): value is NativeObject {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as NativeObject).getattr === 'function' &&
    'pyType' in value
  );
}

export function typeName(value: PyValue): string {
  if (value === null) return 'NoneType';
  if (typeof value === 'string') return 'str';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'boolean') return 'bool';
  if (isTuple(value)) return 'tuple';
  if (Array.isArray(value)) return 'list';
  if (value instanceof Set) return 'set';
  if (value instanceof Unknown) return 'unknown';
  if (value instanceof PyFunction || value instanceof Builtin || value instanceof BoundMethod)
    return 'function';
  if (value instanceof PyClass) return 'type';
  if (value instanceof PyInstance) return value.cls.name;
  if (value instanceof PyException) return value.type;
  if (isNative(value)) return value.pyType;
  return 'dict';
}

export function truthy(value: PyValue): boolean | Unknown {
  if (value instanceof Unknown) return value;
  if (value === null || value === false || value === 0 || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (value instanceof Set) return value.size > 0;
  if (isDict(value)) return Object.keys(value).length > 0;
  return true;
}

/** Converts an interpreter value to plain JSON-able data (tuples and sets become arrays). */
export function toPlain(value: PyValue): unknown {
  if (Array.isArray(value)) return value.map(toPlain);
  if (value instanceof Set) return [...value].map(toPlain);
  if (isDict(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = toPlain(v);
    return out;
  }
  return value;
}

/** Whether the value holds UNKNOWN anywhere inside. */
export function containsUnknown(value: PyValue): boolean {
  if (value instanceof Unknown) return true;
  if (Array.isArray(value)) return value.some(containsUnknown);
  if (value instanceof Set) return [...value].some(containsUnknown);
  if (isDict(value)) return Object.values(value).some(containsUnknown);
  return false;
}
