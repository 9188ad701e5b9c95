// What kolla-build would give its templates, read from the checkout by running its own code:
// config.parse() registers every option and derives the defaults (base tag, tag, branch, …),
// KollaWorker.__init__ turns options into attributes (package manager, namespace, rpm setup, …),
// and the `values = {…}` of create_dockerfiles() is the template context. The statements of
// create_dockerfiles() before that assignment run too, with the loop over image paths entered
// once for a placeholder path: a variable whose value holds the placeholder is per image
// (`image_name`), every other one is common to all images.
//
// Also read the same way: the per-service users, the unbuildable images, the `*-archive` sources,
// and the names of the template helpers (_get_filters / _get_methods) — so a template helper
// arbor lacks is reported, never silently missing.

import { ArborError, type Diagnostic, error, warning } from '../errors.js';
import { type Interpreter, repr, walkStatements } from '../python/interpret.js';
import type { Expr, Stmt } from '../python/parse.js';
import {
  BoundMethod,
  containsUnknown,
  dict,
  isDict,
  isUnknown,
  PyClass,
  PyException,
  PyFunction,
  type PyInstance,
  type PyValue,
  Scope,
  toPlain,
  unknown,
} from '../python/values.js';
import type { ConfigOpts } from './python/oslo.js';
import type { KollaProgram } from './python/program.js';

/** Stands for the image in the path create_dockerfiles() loops over. */
export const IMAGE_PLACEHOLDER = '__arbor_kolla_image__';
const PLACEHOLDER_PATH = `/kolla-work-dir/docker/${IMAGE_PLACEHOLDER}`;

export interface TemplateContext {
  /** Variables common to every image. */
  common: Record<string, unknown>;
  /** Variables that depend on the image, with IMAGE_PLACEHOLDER where the image name goes. */
  perImage: Record<string, string>;
  /** Keyword arguments of `template.render(values, …)` (Kolla passes `env=os.environ`). */
  renderKeywords: string[];
  /** The template filters and globals kolla-build installs: name → the Python file defining it. */
  filters: Record<string, string | undefined>;
  globals: Record<string, string | undefined>;
}

export interface KollaSource {
  /** The config section: `nova-base`, `nova-base-plugin-blazar`, … */
  section: string;
  /** What the image's build context gets: `nova-base-archive`, `plugins-archive`, `additions-archive`. */
  archive: string;
  /** `plugins` and `additions` are unpacked into one archive per kind. */
  kind: 'source' | 'plugin' | 'addition';
  type: 'url' | 'git' | 'local';
  location: string;
  reference?: string;
  sha256?: Record<string, string>;
}

export interface KollaDefaults {
  conf: ConfigOpts;
  worker: PyInstance;
  context: TemplateContext;
  /**
   * kolla-build's test of an UNBUILDABLE_IMAGES key for this build (filter_images' `tag_re`:
   * base and architecture, in some releases the base tag too), run from the checkout's code;
   * undefined when the checkout has none.
   */
  unbuildableKey?: (key: string) => boolean;
  /** Option values, by dest, of the DEFAULT group that the import uses besides the context. */
  option(name: string): PyValue;
}

/** Runs config.parse(conf, []) and KollaWorker(conf). */
export function readDefaults(program: KollaProgram): KollaDefaults {
  const interp = program.interpreter;
  const configScope = program.scopeOf('kolla.common.config');
  const parse = configScope?.vars.get('parse');
  if (!(parse instanceof PyFunction))
    throw new ArborError([error('kolla/common/config.py: no parse() function: this Kolla is not supported')]);
  const conf = program.newConf();
  callOrThrow(interp, parse, [conf, []], 'kolla/common/config.py: parse()');

  const workerScope = program.scopeOf('kolla.image.kolla_worker');
  const workerClass = workerScope && findClassWith(workerScope, 'create_dockerfiles');
  if (!workerClass)
    throw new ArborError([
      error('kolla/image/kolla_worker.py: no class with create_dockerfiles(): this Kolla is not supported'),
    ]);
  const worker = callOrThrow(
    interp,
    workerClass,
    [conf],
    'kolla/image/kolla_worker.py: KollaWorker(conf)',
  ) as PyInstance;
  const context = templateContext(interp, worker, workerClass);
  const unbuildableKey = unbuildableKeyTest(interp, worker, workerClass);
  return {
    conf,
    worker,
    context,
    ...(unbuildableKey ? { unbuildableKey } : {}),
    option: (name) => conf.getattr(name) ?? null,
  };
}

function callOrThrow(interp: Interpreter, fn: PyValue, args: PyValue[], what: string): PyValue {
  try {
    return interp.callValue(fn, args, {});
  } catch (err) {
    if (err instanceof PyException)
      throw new ArborError([error(`${what} failed: ${err.type}: ${err.message}`)]);
    throw err;
  }
}

function findClassWith(scope: Scope, method: string): PyClass | undefined {
  for (const value of scope.vars.values())
    if (value instanceof PyClass && value.lookup(method) instanceof PyFunction) return value;
  return undefined;
}

function templateContext(interp: Interpreter, worker: PyInstance, cls: PyClass): TemplateContext {
  const create = cls.lookup('create_dockerfiles') as PyFunction;
  const target = findValuesAssignment(create.body);
  if (!target)
    throw new ArborError([
      error(
        'kolla/image/kolla_worker.py: create_dockerfiles() has no `values = {…}`: this Kolla is not supported',
      ),
    ]);
  const scope = new Scope(create.closure, create.closure.module);
  scope.assign(create.params[0]?.name ?? 'self', worker);
  runUntil(interp, create.body, target, scope);
  const values = scope.vars.get('values');
  if (!isDict(values))
    throw new ArborError([error('kolla/image/kolla_worker.py: the template values could not be read')]);

  const common: Record<string, unknown> = {};
  const perImage: Record<string, string> = {};
  for (const [name, value] of Object.entries(values)) {
    if (typeof value === 'string' && value.includes(IMAGE_PLACEHOLDER)) perImage[name] = value;
    else common[name] = containsUnknown(value) ? value : toPlain(value);
  }
  return {
    common,
    perImage,
    renderKeywords: renderKeywords(create.body),
    filters: helperNames(interp, worker, '_get_filters'),
    globals: helperNames(interp, worker, '_get_methods'),
  };
}

/** The statement `values = {…}` (the template context) in a function body. */
function findValuesAssignment(body: Stmt[]): Stmt | undefined {
  return findAssignment(body, 'values', (s) => s.k === 'assign' && s.value.k === 'dict');
}

function findAssignment(
  body: Stmt[],
  name: string,
  also: (s: Stmt) => boolean = () => true,
): Stmt | undefined {
  let found: Stmt | undefined;
  walkStatements(body, (s) => {
    if (!found && s.k === 'assign' && s.targets.some((t) => t.k === 'name' && t.id === name) && also(s))
      found = s;
  });
  return found;
}

function unbuildableKeyTest(
  interp: Interpreter,
  worker: PyInstance,
  cls: PyClass,
): ((key: string) => boolean) | undefined {
  const filter = cls.lookup('filter_images');
  if (!(filter instanceof PyFunction)) return undefined;
  const target = findAssignment(filter.body, 'tag_re');
  if (!target) return undefined;
  const scope = new Scope(filter.closure, filter.closure.module);
  scope.assign(filter.params[0]?.name ?? 'self', worker);
  try {
    runUntil(interp, filter.body, target, scope);
    const match = interp.getattr(scope.vars.get('tag_re') ?? null, 'match');
    if (isUnknown(match)) return undefined;
    return (key) => {
      const m = interp.callValue(match, [key], {});
      return m !== null && !isUnknown(m);
    };
  } catch (err) {
    if (err instanceof PyException) return undefined;
    throw err;
  }
}

/**
 * Runs a body up to and including `target`. Loops that contain it are entered once, their
 * variable bound to the placeholder path; other statements run as they are.
 */
function runUntil(interp: Interpreter, body: Stmt[], target: Stmt, scope: Scope): boolean {
  for (const stmt of body) {
    if (stmt === target) {
      interp.execBlock([stmt], scope, { yields: null });
      return true;
    }
    if (!contains(stmt, target)) {
      try {
        interp.execBlock([stmt], scope, { yields: null });
      } catch (err) {
        if (!(err instanceof PyException)) throw err;
        // A statement that fails before the values are assembled leaves its names unknown.
        if (stmt.k === 'assign')
          for (const t of stmt.targets) if (t.k === 'name') scope.assign(t.id, unknown(err.message));
      }
      continue;
    }
    switch (stmt.k) {
      case 'for':
        bindPlaceholder(stmt.target, scope);
        return runUntil(interp, stmt.body, target, scope) || runUntil(interp, stmt.orelse, target, scope);
      case 'if':
      case 'while':
        return runUntil(interp, stmt.body, target, scope) || runUntil(interp, stmt.orelse, target, scope);
      case 'try':
        return runUntil(interp, stmt.body, target, scope);
      case 'with':
        return runUntil(interp, stmt.body, target, scope);
      default:
        return false;
    }
  }
  return false;
}

function bindPlaceholder(target: Expr, scope: Scope): void {
  if (target.k === 'name') scope.assign(target.id, PLACEHOLDER_PATH);
}

function contains(stmt: Stmt, target: Stmt): boolean {
  let found = false;
  walkStatements([stmt], (s) => {
    if (s === target) found = true;
  });
  return found;
}

/** `template.render(values, env=os.environ)` → ['env']. */
function renderKeywords(body: Stmt[]): string[] {
  const names = new Set<string>();
  const visit = (e: Expr): void => {
    if (e.k === 'call' && e.func.k === 'attr' && e.func.attr === 'render')
      for (const kw of e.keywords) if (kw.name) names.add(kw.name);
    for (const child of Object.values(e)) {
      if (Array.isArray(child))
        for (const c of child) if (c && typeof c === 'object' && 'k' in c) visit(c as Expr);
      if (child && typeof child === 'object' && 'k' in (child as object)) visit(child as Expr);
    }
  };
  walkStatements(body, (s) => {
    for (const value of Object.values(s))
      if (value && typeof value === 'object' && 'k' in (value as object)) visit(value as Expr);
  });
  return [...names];
}

function helperNames(
  interp: Interpreter,
  worker: PyInstance,
  method: string,
): Record<string, string | undefined> {
  const fn = worker.cls.lookup(method);
  if (!(fn instanceof PyFunction)) return {};
  let result: PyValue;
  try {
    result = interp.callValue(new BoundMethod(fn, worker), [], {});
  } catch {
    return {};
  }
  if (!isDict(result)) return {};
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(result)) {
    const file = value instanceof PyFunction ? value.closure.module?.vars.get('__file__') : undefined;
    out[name] = typeof file === 'string' ? file : undefined;
  }
  return out;
}

/** Diagnostics for context values that stayed unknown. */
export function unknownValueProblems(context: TemplateContext): Diagnostic[] {
  return Object.entries(context.common)
    .filter(([, v]) => containsUnknown(v as PyValue))
    .map(([name, v]) =>
      warning(
        `kolla-build's template variable ${name} could not be read from the checkout (${repr(v as PyValue)}); set it under variables: in images.yaml`,
      ),
    );
}

/** The `*-user` sections as kolla-build's get_users() returns them, when the context lacks them. */
export function usersFromConf(conf: ConfigOpts): Record<string, unknown> {
  const users = dict();
  const sections = new Set([...conf.groupNames(), ...conf.fileSections()]);
  for (const section of [...sections].sort()) {
    if (!section.endsWith('-user')) continue;
    users[section.slice(0, -5)] = dict([
      ['uid', conf.value(section, 'uid')],
      ['gid', conf.value(section, 'gid')],
      ['group', conf.value(section, 'group')],
    ]);
  }
  return toPlain(users) as Record<string, unknown>;
}

export { isUnknown };
