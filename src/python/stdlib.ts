// The builtins and the few standard-library modules Kolla's configuration code calls (os, os.path,
// re, itertools, sys), as the interpreter's native objects. A module nobody implemented is an
// opaque module: every attribute is UNKNOWN, so code that only passes it around still runs.

import path from 'node:path';
import { compareValues, type Interpreter, native, repr, str } from './interpret.js';
import {
  Builtin,
  dict,
  isDict,
  isTuple,
  isUnknown,
  type NativeObject,
  PyClass,
  PyException,
  PyInstance,
  type PyValue,
  Scope,
  truthy,
  tuple,
  typeName,
  unknown,
} from './values.js';

/** A module implemented here: a fixed set of attributes. */
export class NativeModule implements NativeObject {
  readonly pyType = 'module';
  constructor(
    readonly name: string,
    private readonly attrs: Record<string, PyValue>,
    /** Not loaded: every attribute is unknown. */
    readonly opaque = false,
  ) {}
  getattr(name: string): PyValue | undefined {
    if (Object.hasOwn(this.attrs, name)) return this.attrs[name]!;
    return unknown(`${this.name}.${name}`);
  }
  setattr(name: string, value: PyValue): void {
    this.attrs[name] = value;
  }
}

/** A module of the program that was not loaded (third-party, or not needed): all unknown. */
export function opaqueModule(name: string): NativeModule {
  return new NativeModule(name, {}, true);
}

/** A module that was interpreted: its global scope. */
export class ScopeModule implements NativeObject {
  readonly pyType = 'module';
  constructor(
    readonly name: string,
    readonly scope: Scope,
  ) {}
  getattr(name: string): PyValue | undefined {
    const value = this.scope.vars.get(name);
    return value === undefined ? unknown(`${this.name}.${name}`) : value;
  }
  setattr(name: string, value: PyValue): void {
    this.scope.vars.set(name, value);
  }
}

const EXCEPTION_TREE: Array<[string, string | null]> = [
  ['BaseException', null],
  ['Exception', 'BaseException'],
  ['LookupError', 'Exception'],
  ['KeyError', 'LookupError'],
  ['IndexError', 'LookupError'],
  ['ValueError', 'Exception'],
  ['TypeError', 'Exception'],
  ['AttributeError', 'Exception'],
  ['NameError', 'Exception'],
  ['RuntimeError', 'Exception'],
  ['RecursionError', 'RuntimeError'],
  ['NotImplementedError', 'RuntimeError'],
  ['ImportError', 'Exception'],
  ['ModuleNotFoundError', 'ImportError'],
  ['OSError', 'Exception'],
  ['FileNotFoundError', 'OSError'],
  ['ArithmeticError', 'Exception'],
  ['ZeroDivisionError', 'ArithmeticError'],
  ['StopIteration', 'Exception'],
];

/** The builtins scope: functions, types and exception classes. */
export function builtinScope(interp: () => Interpreter): Scope {
  const scope = new Scope(null);
  const set = (name: string, fn: (args: PyValue[], kw: Record<string, PyValue>) => PyValue) =>
    scope.vars.set(name, native(name, fn));

  const classes = new Map<string, PyClass>();
  for (const [name, parent] of EXCEPTION_TREE) {
    const cls = new PyClass(name, new Map(), parent ? [classes.get(parent)!] : []);
    classes.set(name, cls);
    scope.vars.set(name, cls);
  }
  scope.vars.set('IOError', classes.get('OSError')!);
  scope.vars.set('EnvironmentError', classes.get('OSError')!);
  scope.vars.set('object', new PyClass('object', new Map(), []));

  const iter = (v: PyValue) => interp().iterate(v);
  const listOf = (v: PyValue): PyValue[] => {
    const items = iter(v);
    if (isUnknown(items)) throw items;
    return items;
  };
  const guard =
    (fn: (args: PyValue[], kw: Record<string, PyValue>) => PyValue) =>
    (args: PyValue[], kw: Record<string, PyValue>): PyValue => {
      try {
        return fn(args, kw);
      } catch (err) {
        if (isUnknown(err)) return err;
        throw err;
      }
    };

  set('len', ([v]) => {
    if (isUnknown(v)) return v;
    if (typeof v === 'string' || Array.isArray(v)) return v.length;
    if (v instanceof Set) return v.size;
    if (isDict(v)) return Object.keys(v).length;
    throw new PyException('TypeError', `object of type '${typeName(v!)}' has no len()`);
  });
  set('str', ([v = '']) => (isUnknown(v) ? v : str(v)));
  set('repr', ([v = null]) => (isUnknown(v) ? v : repr(v)));
  set('int', ([v = 0, base]) => {
    if (isUnknown(v)) return v;
    if (typeof v === 'string') {
      const n = Number.parseInt(v.trim(), typeof base === 'number' ? base : 10);
      if (Number.isNaN(n)) throw new PyException('ValueError', `invalid literal for int(): ${repr(v)}`);
      return n;
    }
    return Math.trunc(Number(v));
  });
  set('float', ([v = 0]) => (isUnknown(v) ? v : Number(v)));
  set('bool', ([v = false]) => truthy(v));
  set(
    'list',
    guard(([v]) => (v === undefined ? [] : listOf(v))),
  );
  set(
    'tuple',
    guard(([v]) => tuple(v === undefined ? [] : listOf(v))),
  );
  set(
    'set',
    guard(([v]) => new Set(v === undefined ? [] : listOf(v))),
  );
  set(
    'frozenset',
    guard(([v]) => new Set(v === undefined ? [] : listOf(v))),
  );
  set(
    'dict',
    guard(([v], kw) => {
      const d = dict();
      if (isDict(v)) Object.assign(d, v);
      else if (v !== undefined)
        for (const pair of listOf(v)) {
          const [k, val] = listOf(pair);
          d[String(k)] = val!;
        }
      return Object.assign(d, kw);
    }),
  );
  set(
    'sorted',
    guard(([v], kw) => interp().sorted(v!, kw)),
  );
  set(
    'reversed',
    guard(([v]) => listOf(v!).reverse()),
  );
  set(
    'enumerate',
    guard(([v, start = 0]) => listOf(v!).map((x, i) => tuple([i + Number(start), x]))),
  );
  set(
    'zip',
    guard((args) => {
      const lists = args.map(listOf);
      const n = Math.min(...lists.map((l) => l.length));
      return Array.from({ length: n }, (_, i) => tuple(lists.map((l) => l[i]!)));
    }),
  );
  set('range', ([a, b, c]) => {
    const [start, stop, step] =
      b === undefined ? [0, Number(a), 1] : [Number(a), Number(b), c === undefined ? 1 : Number(c)];
    // Python refuses a zero step (this loop never ended); a huge range would exhaust the memory.
    if (step === 0) throw new Error('range() arg 3 must not be zero');
    const out: PyValue[] = [];
    for (let i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (out.length >= 10_000_000) throw new Error('range() too long for a template helper');
      out.push(i);
    }
    return out;
  });
  set(
    'any',
    guard(([v]) => listOf(v!).some((x) => truthy(x) === true)),
  );
  set(
    'all',
    guard(([v]) => listOf(v!).every((x) => truthy(x) === true)),
  );
  set(
    'min',
    guard((args) => {
      const items = args.length === 1 ? listOf(args[0]!) : args;
      return items.reduce((a, b) => (compareValues(b, a) < 0 ? b : a));
    }),
  );
  set(
    'max',
    guard((args) => {
      const items = args.length === 1 ? listOf(args[0]!) : args;
      return items.reduce((a, b) => (compareValues(b, a) > 0 ? b : a));
    }),
  );
  set(
    'sum',
    guard(([v, start = 0]) => listOf(v!).reduce<number>((a, b) => a + Number(b), Number(start))),
  );
  set('abs', ([v]) => Math.abs(Number(v)));
  set('print', () => null);
  // Decorators whose effect on a class is beyond this interpreter: the function as it is.
  for (const name of ['property', 'staticmethod', 'classmethod', 'abstractmethod'])
    set(name, ([fn]) => fn ?? null);
  set('isinstance', ([v, cls]) => {
    if (isUnknown(v)) return v;
    const classes = isTuple(cls) ? (cls as PyValue[]) : [cls];
    return classes.some((c) => {
      if (c instanceof PyClass) return v instanceof PyInstance ? v.cls.isSubclassOf(c) : false;
      if (c instanceof Builtin)
        return typeName(v!) === c.name || (c.name === 'int' && typeof v === 'boolean');
      return false;
    });
  });
  set('hasattr', ([obj, name]) => {
    try {
      return !isUnknown(interp().getattr(obj!, String(name)));
    } catch {
      return false;
    }
  });
  set('getattr', ([obj, name, dflt]) => {
    try {
      return interp().getattr(obj!, String(name));
    } catch (err) {
      if (dflt !== undefined && err instanceof PyException) return dflt;
      throw err;
    }
  });
  set('setattr', ([obj, name, value]) => {
    interp().setattr(obj!, String(name), value!);
    return null;
  });
  set('callable', ([v]) => v instanceof Builtin || typeof v === 'object');
  set(
    'map',
    guard(([fn, v]) => listOf(v!).map((x) => interp().callValue(fn!, [x], {}))),
  );
  set(
    'filter',
    guard(([fn, v]) =>
      listOf(v!).filter((x) => truthy(fn === null ? x : interp().callValue(fn!, [x], {})) === true),
    ),
  );
  set(
    'iter',
    guard(([v]) => listOf(v!)),
  );
  set(
    'next',
    guard(([v, dflt]) => listOf(v!)[0] ?? dflt ?? null),
  );
  set('open', () => unknown('open()'));
  set('super', () => unknown('super()'));
  set('type', ([v]) => typeName(v!));
  set('id', () => unknown('id()'));
  set('hash', () => unknown('hash()'));
  return scope;
}

/** `os`, with `os.path`: path operations work, the machine's state is unknown. */
export function osModule(hostArch: string): NativeModule {
  const p = new NativeModule('os.path', {
    join: native('join', (args) => path.posix.join(...args.map(String))),
    basename: native('basename', ([a]) => path.posix.basename(String(a))),
    dirname: native('dirname', ([a]) => path.posix.dirname(String(a))),
    abspath: native('abspath', ([a]) => unknown(`os.path.abspath(${String(a)})`)),
    realpath: native('realpath', ([a]) => unknown(`os.path.realpath(${String(a)})`)),
    exists: native('exists', () => unknown('os.path.exists()')),
    isdir: native('isdir', () => unknown('os.path.isdir()')),
    isfile: native('isfile', () => unknown('os.path.isfile()')),
    sep: '/',
  });
  return new NativeModule('os', {
    path: p,
    sep: '/',
    // os.uname()[4] is the machine: the architecture kolla-build would default to.
    uname: native('uname', () =>
      tuple(['Linux', unknown('hostname'), unknown('release'), unknown('version'), hostArch]),
    ),
    environ: unknown('os.environ'),
    getenv: native('getenv', () => unknown('os.getenv()')),
    getcwd: native('getcwd', () => unknown('os.getcwd()')),
    walk: native('walk', () => unknown('os.walk()')),
    listdir: native('listdir', () => unknown('os.listdir()')),
  });
}

class MatchObject implements NativeObject {
  readonly pyType = 're.Match';
  constructor(private readonly m: RegExpExecArray) {}
  getattr(name: string): PyValue | undefined {
    if (name === 'group') return native('group', ([n = 0]) => this.m[Number(n)] ?? null);
    if (name === 'groups') return native('groups', () => tuple(this.m.slice(1).map((g) => g ?? null)));
    if (name === 'start') return native('start', () => this.m.index);
    return undefined;
  }
}

/**
 * Python regular expressions, run as JavaScript ones: the constructs Kolla's code uses (anchors,
 * classes, groups, quantifiers) mean the same in both. re.MULTILINE becomes the `m` flag.
 */
function regex(pattern: PyValue, flags: PyValue | undefined, anchored = false): RegExp {
  const source = anchored ? `^(?:${String(pattern)})` : String(pattern);
  const f =
    (typeof flags === 'number' && flags & 8 ? 'm' : '') + (typeof flags === 'number' && flags & 2 ? 'i' : '');
  return new RegExp(source, f);
}

function matchOf(re: RegExp, text: PyValue): PyValue {
  if (isUnknown(text)) return text;
  const m = re.exec(String(text));
  return m ? new MatchObject(m) : null;
}

export function reModule(): NativeModule {
  return new NativeModule('re', {
    search: native('search', ([pattern, text, flags]) =>
      isUnknown(pattern) ? pattern : matchOf(regex(pattern!, flags), text!),
    ),
    match: native('match', ([pattern, text, flags]) =>
      isUnknown(pattern) ? pattern : matchOf(regex(pattern!, flags, true), text!),
    ),
    sub: native('sub', ([pattern, repl, text, , flags]) =>
      isUnknown(text)
        ? text
        : String(text).replace(
            new RegExp(String(pattern), `g${regex(pattern!, flags).flags}`),
            String(repl).replace(/\\(\d)/g, '$$$1'),
          ),
    ),
    compile: native(
      'compile',
      ([pattern, flags]) =>
        new NativeModule('re.Pattern', {
          search: native('search', ([text]) => matchOf(regex(pattern!, flags), text!)),
          match: native('match', ([text]) => matchOf(regex(pattern!, flags, true), text!)),
        }),
    ),
    escape: native('escape', ([s]) => String(s).replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&')),
    MULTILINE: 8,
    M: 8,
    IGNORECASE: 2,
    I: 2,
  });
}

export function itertoolsModule(): NativeModule {
  return new NativeModule('itertools', {
    chain: native('chain', (args) => {
      const out: PyValue[] = [];
      for (const a of args) {
        if (isUnknown(a)) return a;
        if (Array.isArray(a)) out.push(...a);
        else if (a instanceof Set) out.push(...a);
        else if (isDict(a)) out.push(...Object.keys(a));
      }
      return out;
    }),
  });
}
