// Template functions and filters written in Python (`template_helpers:` in images.yaml), run by
// arbor's interpreter for Python's common subset (src/python/): the way Jinja2 projects such as
// Kolla give their templates helpers (`env.globals['handle_repos'] = methods.handle_repos`).
//
//   template_helpers:
//     globals: { handle_repos: kolla-template/methods.py }    # name → file under templates_dir
//     filters: { customizable: kolla-template/filters.py }
//
// A function decorated with jinja2's `@pass_context` (or the older `@contextfunction` /
// `@contextfilter`) gets the template context first: `context.get(name)`, `context[name]`,
// `name in context`. An undefined template value arrives as a `jinja2.Undefined`. The code may
// read files with `open()` inside the project directory (Kolla's handle_repos reads repos.yaml
// beside its module), parse YAML with `yaml.safe_load`, use os.path, re and itertools; anything
// else it imports is opaque, and a result that depends on it is an error naming the helper.

import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type nunjucks from 'nunjucks';
import YAML from 'yaml';
import { Interpreter, native } from '../../python/interpret.js';
import { parseModule } from '../../python/parse.js';
import { builtinScope, itertoolsModule, NativeModule, opaqueModule, reModule } from '../../python/stdlib.js';
import { PythonSyntaxError } from '../../python/tokenize.js';
import {
  containsUnknown,
  isUnknown,
  type NativeObject,
  PyClass,
  PyException,
  PyFunction,
  PyInstance,
  type PyValue,
  type Scope,
} from '../../python/values.js';

export interface PythonHelpersConfig {
  globals: Record<string, string>;
  filters: Record<string, string>;
}

export interface PythonHelperOptions {
  templatesDir: string;
  /** Files outside this directory cannot be opened by helper code. */
  root: string;
}

/** A helper that cannot be loaded: the name, the file, what is wrong. */
export class PythonHelperError extends Error {
  constructor(
    readonly helper: string,
    message: string,
  ) {
    super(message);
    this.name = 'PythonHelperError';
  }
}

interface NunjucksContext {
  ctx: Record<string, unknown>;
  lookup(name: string): unknown;
}

const CONTEXT_DECORATORS = [
  'pass_context',
  'contextfunction',
  'contextfilter',
  'evalcontextfunction',
  'evalcontextfilter',
];

class HelperProgram {
  readonly interpreter: Interpreter;
  readonly undefinedClass = new PyClass('Undefined', new Map(), []);
  readonly contextFunctions = new WeakSet<PyFunction>();
  private readonly modules = new Map<string, Scope>();
  private readonly yamlCache = new Map<string, { stamp: string; value: PyValue }>();

  constructor(private readonly root: string) {
    const builtins = builtinScope(() => this.interpreter);
    builtins.vars.set(
      'open',
      native('open', ([file, mode]) => {
        if (mode !== undefined && mode !== null && !String(mode).startsWith('r'))
          throw new PyException('PermissionError', 'template helpers may only read files');
        return new ReadOnlyFile(this.readable(String(file)));
      }),
    );
    this.interpreter = new Interpreter(builtins, (name) => this.importModule(name));
  }

  /**
   * A path helper code may read: inside the project directory. A relative path (a `repos_yaml`
   * variable) is the project's, wherever arbor runs from.
   */
  private readable(file: string): string {
    const abs = path.resolve(this.root, file);
    const rel = path.relative(this.root, abs);
    if (rel.startsWith('..') || path.isAbsolute(rel))
      throw new PyException('PermissionError', `${file}: outside the project`);
    if (!existsSync(abs)) throw new PyException('FileNotFoundError', `No such file or directory: '${file}'`);
    return abs;
  }

  private importModule(name: string): PyValue {
    const mark = (fn: PyValue) => {
      if (fn instanceof PyFunction) this.contextFunctions.add(fn);
      return fn;
    };
    switch (name) {
      case 'jinja2':
        return new NativeModule('jinja2', {
          ...Object.fromEntries(CONTEXT_DECORATORS.map((d) => [d, native(d, ([fn]) => mark(fn!))])),
          Undefined: this.undefinedClass,
        });
      case 'yaml':
        return new NativeModule('yaml', {
          safe_load: native('safe_load', ([stream]) => this.safeLoad(stream!)),
          load: native('load', ([stream]) => this.safeLoad(stream!)),
        });
      case 'os':
        return new NativeModule('os', { path: this.osPath(), sep: '/' });
      case 'os.path':
        return this.osPath();
      case 're':
        return reModule();
      case 'itertools':
        return itertoolsModule();
      default:
        return opaqueModule(name);
    }
  }

  private osPath(): NativeModule {
    return new NativeModule('os.path', {
      join: native('join', (args) => path.join(...args.map(String))),
      basename: native('basename', ([p]) => path.basename(String(p))),
      dirname: native('dirname', ([p]) => path.dirname(String(p))),
      realpath: native('realpath', ([p]) => path.resolve(String(p))),
      abspath: native('abspath', ([p]) => path.resolve(String(p))),
      exists: native('exists', ([p]) => existsSync(String(p))),
      isfile: native('isfile', ([p]) => existsSync(String(p)) && statSync(String(p)).isFile()),
      isdir: native('isdir', ([p]) => existsSync(String(p)) && statSync(String(p)).isDirectory()),
      sep: '/',
    });
  }

  /** yaml.safe_load of a file object or a string, as PyYAML reads it (YAML 1.1), cached per file. */
  private safeLoad(stream: PyValue): PyValue {
    if (stream instanceof ReadOnlyFile) {
      const stat = statSync(stream.file);
      const stamp = `${stat.size}:${stat.mtimeMs}`;
      const cached = this.yamlCache.get(stream.file);
      // A deep copy each time: the caller may change what it got.
      if (cached?.stamp === stamp) return structuredClone(cached.value);
      const value = YAML.parse(readFileSync(stream.file, 'utf8'), { version: '1.1' }) as PyValue;
      this.yamlCache.set(stream.file, { stamp, value });
      return structuredClone(value);
    }
    return YAML.parse(String(stream), { version: '1.1' }) as PyValue;
  }

  /** The module scope of a helper file. */
  load(file: string): Scope {
    const cached = this.modules.get(file);
    if (cached) return cached;
    const body = parseModule(readFileSync(file, 'utf8'));
    const scope = this.interpreter.runModule([]);
    scope.vars.set('__file__', file);
    scope.vars.set('__name__', path.basename(file, '.py'));
    this.interpreter.execBlock(body, scope, { yields: null });
    this.modules.set(file, scope);
    return scope;
  }
}

class ReadOnlyFile implements NativeObject {
  readonly pyType = 'TextIOWrapper';
  constructor(readonly file: string) {}
  getattr(name: string): PyValue | undefined {
    if (name === 'read') return native('read', () => readFileSync(this.file, 'utf8'));
    if (name === 'readlines')
      return native('readlines', () => readFileSync(this.file, 'utf8').split(/(?<=\n)/));
    if (name === 'close') return native('close', () => null);
    return undefined;
  }
}

/** The template context as Python sees it (jinja2.runtime.Context). */
class TemplateContext implements NativeObject {
  readonly pyType = 'Context';
  constructor(private readonly context: NunjucksContext) {}
  private has(key: string): boolean {
    return Object.hasOwn(this.context.ctx, key) || this.context.lookup(key) !== undefined;
  }
  getattr(name: string): PyValue | undefined {
    if (name === 'get')
      return native('get', ([key, fallback = null]) =>
        this.has(String(key)) ? fromTemplate(this.context.lookup(String(key))) : fallback,
      );
    return undefined;
  }
  getitem(key: PyValue): PyValue {
    if (!this.has(String(key))) throw new PyException('KeyError', `'${String(key)}'`);
    return fromTemplate(this.context.lookup(String(key)));
  }
  contains(key: PyValue): boolean {
    return this.has(String(key));
  }
}

let undefinedInstance: PyInstance | undefined;

function fromTemplate(value: unknown, undefinedValue?: PyInstance): PyValue {
  if (value === undefined) return undefinedValue ?? undefinedInstance ?? null;
  if (value instanceof Object && value.constructor?.name === 'SafeString') return String(value);
  return value as PyValue;
}

function toTemplate(value: PyValue, helper: string): unknown {
  if (value instanceof PyInstance && value.cls.name === 'Undefined') return undefined;
  if (isUnknown(value) || containsUnknown(value))
    throw new Error(`${helper}: the result depends on something arbor's Python cannot evaluate`);
  return value;
}

/** Loads every helper (errors name the helper and its file) and installs them. */
export function installPythonHelpers(
  env: nunjucks.Environment,
  config: PythonHelpersConfig,
  options: PythonHelperOptions,
): void {
  const program = new HelperProgram(options.root);
  const undef = new PyInstance(program.undefinedClass);
  const wrap = (name: string, file: string) => {
    const abs = path.resolve(options.templatesDir, file);
    if (!existsSync(abs)) throw new PythonHelperError(name, `${file}: not found in the templates directory`);
    let fn: PyValue | undefined;
    try {
      fn = program.load(abs).vars.get(name);
    } catch (err) {
      if (err instanceof PythonSyntaxError)
        throw new PythonHelperError(name, `${file}:${err.line}:${err.col}: ${err.message}`);
      if (err instanceof PyException)
        throw new PythonHelperError(name, `${file}: ${err.type}: ${err.message}`);
      throw err;
    }
    if (!(fn instanceof PyFunction)) throw new PythonHelperError(name, `${file} defines no function ${name}`);
    const pyFn = fn;
    const passContext = program.contextFunctions.has(pyFn);
    return function (this: NunjucksContext, ...raw: unknown[]): unknown {
      undefinedInstance = undef;
      const last = raw[raw.length - 1] as Record<string, unknown> | undefined;
      const hasKeywords = last !== null && typeof last === 'object' && last.__keywords === true;
      const args = (hasKeywords ? raw.slice(0, -1) : raw).map((a) => fromTemplate(a, undef));
      const kwargs: Record<string, PyValue> = {};
      if (hasKeywords)
        for (const [k, v] of Object.entries(last!))
          if (k !== '__keywords') kwargs[k] = fromTemplate(v, undef);
      try {
        const result = program.interpreter.callValue(
          pyFn,
          passContext ? [new TemplateContext(this), ...args] : args,
          kwargs,
        );
        return toTemplate(result, name);
      } catch (err) {
        if (err instanceof PyException) throw new Error(`${name}: ${err.type}: ${err.message}`);
        throw err;
      }
    };
  };
  for (const [name, file] of Object.entries(config.globals)) env.addGlobal(name, wrap(name, file));
  for (const [name, file] of Object.entries(config.filters)) env.addFilter(name, wrap(name, file) as never);
}
