// A small interpreter for the Python that holds Kolla's defaults: module constants, oslo.config
// option lists, config.parse() and the KollaWorker constructor that turns options into template
// variables. Reading them by running the code (instead of copying their values into arbor) is
// what lets a newer or older Kolla import without changes to arbor.
//
// It is tolerant by design: what depends on the machine kolla-build runs on (the container
// engine, the network, importlib metadata) evaluates to UNKNOWN, and UNKNOWN spreads — an `if`
// on an unknown condition marks every name it could assign as unknown, a loop over an unknown
// list likewise — so a value is either exactly what Python computes or visibly unknown, never
// silently wrong. Only what an import needs is implemented: no classes beyond attributes and
// methods, generators are run to completion, `while` loops are capped.

import type { Expr, Param, Stmt } from './parse.js';
import { member, percentFormat, pyEquals, strFormat } from './semantics.js';
import {
  BoundMethod,
  Builtin,
  dict,
  isDict,
  isNative,
  isTuple,
  isUnknown,
  type NativeObject,
  PyClass,
  PyException,
  PyFunction,
  PyInstance,
  type PyValue,
  Scope,
  truthy,
  tuple,
  typeName,
  Unknown,
  unknown,
} from './values.js';

/** A member of an enum.Enum subclass: `.name` and `.value`. */
export class EnumMember implements NativeObject {
  readonly pyType = 'Enum';
  constructor(
    readonly name: string,
    readonly value: PyValue,
  ) {}
  getattr(attr: string): PyValue | undefined {
    if (attr === 'name') return this.name;
    if (attr === 'value') return this.value;
    return undefined;
  }
}

class ReturnSignal {
  constructor(readonly value: PyValue) {}
}
class BreakSignal {}
class ContinueSignal {}

/** Where generator functions collect what they yield. */
interface Frame {
  yields: PyValue[] | null;
}

const MAX_WHILE_ITERATIONS = 100_000;
const MAX_CALL_DEPTH = 200;

export type ModuleLoader = (name: string) => PyValue;

export class Interpreter {
  private depth = 0;
  /** Exceptions being handled (innermost last), for a bare `raise`. */
  private readonly handling: PyException[] = [];

  constructor(
    private readonly builtins: Scope,
    private readonly importModule: ModuleLoader,
  ) {}

  /** Runs a module body in a fresh scope over the builtins; returns that scope. */
  runModule(body: Stmt[]): Scope {
    const scope = new Scope(this.builtins);
    (scope as { module: Scope | null }).module = scope;
    this.execBlock(body, scope, { yields: null });
    return scope;
  }

  // ---- statements

  execBlock(body: Stmt[], scope: Scope, frame: Frame): void {
    for (const stmt of body) this.exec(stmt, scope, frame);
  }

  private exec(stmt: Stmt, scope: Scope, frame: Frame): void {
    switch (stmt.k) {
      case 'expr':
        this.eval(stmt.value, scope);
        return;
      case 'assign': {
        const value = this.eval(stmt.value, scope);
        for (const target of stmt.targets) this.assign(target, value, scope);
        return;
      }
      case 'augassign': {
        const current = this.eval(stmt.target, scope);
        const value = this.eval(stmt.value, scope);
        // `list += x` extends in place, as Python does.
        if (stmt.op === '+' && Array.isArray(current) && !isTuple(current) && Array.isArray(value)) {
          current.push(...value);
          return;
        }
        this.assign(stmt.target, this.binary(stmt.op, current, value), scope);
        return;
      }
      case 'if': {
        const test = truthy(this.eval(stmt.test, scope));
        if (isUnknown(test)) {
          this.giveUp([...stmt.body, ...stmt.orelse], scope, test);
          return;
        }
        this.execBlock(test ? stmt.body : stmt.orelse, scope, frame);
        return;
      }
      case 'for': {
        const items = this.iterate(this.eval(stmt.iter, scope));
        if (isUnknown(items)) {
          this.giveUp([...stmt.body, ...stmt.orelse], scope, items, stmt.target);
          return;
        }
        let broke = false;
        for (const item of items) {
          this.assign(stmt.target, item, scope);
          try {
            this.execBlock(stmt.body, scope, frame);
          } catch (signal) {
            if (signal instanceof BreakSignal) {
              broke = true;
              break;
            }
            if (signal instanceof ContinueSignal) continue;
            throw signal;
          }
        }
        if (!broke) this.execBlock(stmt.orelse, scope, frame);
        return;
      }
      case 'while': {
        for (let n = 0; ; n++) {
          const test = truthy(this.eval(stmt.test, scope));
          if (isUnknown(test) || n >= MAX_WHILE_ITERATIONS) {
            this.giveUp(stmt.body, scope, isUnknown(test) ? test : unknown('loop did not end'));
            return;
          }
          if (!test) break;
          try {
            this.execBlock(stmt.body, scope, frame);
          } catch (signal) {
            if (signal instanceof BreakSignal) return;
            if (signal instanceof ContinueSignal) continue;
            throw signal;
          }
        }
        this.execBlock(stmt.orelse, scope, frame);
        return;
      }
      case 'def': {
        const defaults = new Map<string, PyValue>();
        for (const p of stmt.params) if (p.default) defaults.set(p.name, this.eval(p.default, scope));
        const fn = new PyFunction(
          stmt.name,
          stmt.params,
          stmt.body,
          defaults,
          scope,
          containsYield(stmt.body),
        );
        scope.assign(stmt.name, this.decorate(fn, stmt.decorators, scope));
        return;
      }
      case 'class': {
        const baseValues = stmt.bases.map((b) => this.eval(b, scope));
        const bases = baseValues.filter((b): b is PyClass => b instanceof PyClass);
        const body = new Scope(scope, scope.module);
        this.execBlock(stmt.body, body, { yields: null });
        // Methods close over the enclosing scope, not the class body (Python's rule).
        const attrs = new Map<string, PyValue>();
        const isEnum = bases.some((b) => b.name === 'Enum' && b.bases.length === 0);
        for (const [name, value] of body.vars) {
          if (value instanceof PyFunction)
            attrs.set(
              name,
              new PyFunction(value.name, value.params, value.body, value.defaults, scope, value.isGenerator),
            );
          else if (isEnum && !name.startsWith('_')) attrs.set(name, new EnumMember(name, value));
          else attrs.set(name, value);
        }
        const cls = new PyClass(stmt.name, attrs, bases, baseValues.some(isUnknown));
        scope.assign(stmt.name, this.decorate(cls, stmt.decorators, scope));
        return;
      }
      case 'return':
        throw new ReturnSignal(stmt.value ? this.eval(stmt.value, scope) : null);
      case 'yield': {
        const value = stmt.value ? this.eval(stmt.value, scope) : null;
        if (frame.yields === null) throw new PyException('SyntaxError', "'yield' outside function");
        if (stmt.from) {
          const items = this.iterate(value);
          if (isUnknown(items)) frame.yields.push(items);
          else frame.yields.push(...items);
        } else frame.yields.push(value);
        return;
      }
      case 'raise': {
        if (!stmt.exc) {
          const current = this.handling[this.handling.length - 1];
          throw current ?? new PyException('RuntimeError', 'No active exception to reraise');
        }
        const exc = this.eval(stmt.exc, scope);
        if (exc instanceof PyException) throw exc;
        if (exc instanceof PyClass) throw new PyException(exc.name, '', exc);
        if (exc instanceof PyInstance)
          throw new PyException(exc.cls.name, String(exc.attrs.get('args') ?? ''), exc.cls);
        throw new PyException('Exception', String(exc));
      }
      case 'try':
        this.execTry(stmt, scope, frame);
        return;
      case 'with':
        for (const item of stmt.items) {
          const value = this.eval(item.expr, scope);
          if (item.target) this.assign(item.target, value, scope);
        }
        this.execBlock(stmt.body, scope, frame);
        return;
      case 'import':
        for (const { module, asname } of stmt.names) {
          const loaded = this.importModule(module);
          if (asname) scope.assign(asname, loaded);
          else {
            // `import a.b` binds `a`.
            const top = module.split('.')[0]!;
            scope.assign(top, top === module ? loaded : this.importModule(top));
          }
        }
        return;
      case 'from': {
        const loaded = this.importModule(stmt.module);
        for (const { name, asname } of stmt.names) {
          if (name === '*') continue;
          let value = this.getattr(loaded, name);
          // `from package import submodule`
          if (isUnknown(value) && !isUnknown(loaded)) {
            const sub = this.importModule(`${stmt.module}.${name}`);
            if (!isUnknown(sub) && !(sub as { opaque?: boolean }).opaque) value = sub;
          }
          scope.assign(asname ?? name, value);
        }
        return;
      }
      case 'pass':
        return;
      case 'break':
        throw new BreakSignal();
      case 'continue':
        throw new ContinueSignal();
      case 'del':
        for (const target of stmt.targets) this.delete(target, scope);
        return;
      case 'global':
        for (const name of stmt.names) scope.globalNames.add(name);
        return;
    }
  }

  /** Applies decorators, innermost first; one that could not be loaded leaves the function as it is. */
  private decorate(value: PyValue, decorators: Expr[] | undefined, scope: Scope): PyValue {
    let out = value;
    for (const d of [...(decorators ?? [])].reverse()) {
      const decorator = this.eval(d, scope);
      if (!isUnknown(decorator)) out = this.callValue(decorator, [out], {});
    }
    return out;
  }

  private execTry(stmt: Extract<Stmt, { k: 'try' }>, scope: Scope, frame: Frame): void {
    try {
      try {
        this.execBlock(stmt.body, scope, frame);
      } catch (err) {
        if (!(err instanceof PyException)) throw err;
        const handler = stmt.handlers.find((h) => this.handles(h.type, err, scope));
        if (!handler) throw err;
        if (handler.name) scope.assign(handler.name, err);
        this.handling.push(err);
        try {
          this.execBlock(handler.body, scope, frame);
        } finally {
          this.handling.pop();
        }
        return;
      }
      this.execBlock(stmt.orelse, scope, frame);
    } finally {
      this.execBlock(stmt.finalbody, scope, frame);
    }
  }

  private handles(type: Expr | null, err: PyException, scope: Scope): boolean {
    if (type === null) return true;
    const value = this.eval(type, scope);
    const matches = (v: PyValue): boolean => {
      if (Array.isArray(v)) return v.some(matches);
      if (isUnknown(v)) return true; // an exception class we could not load: assume it matches
      if (!(v instanceof PyClass)) return false;
      if (err.cls) return err.cls.isSubclassOf(v);
      return v.name === err.type || EXCEPTION_PARENTS[err.type]?.includes(v.name) === true;
    };
    return matches(value);
  }

  /**
   * A branch or loop whose condition is unknown: every name it could assign becomes unknown,
   * and a `return` inside makes the function's result unknown.
   */
  private giveUp(body: Stmt[], scope: Scope, why: Unknown, loopTarget?: Expr): void {
    if (loopTarget) this.assignUnknown(loopTarget, scope, why);
    let returns = false;
    walkStatements(body, (s) => {
      if (s.k === 'assign') for (const t of s.targets) this.assignUnknown(t, scope, why);
      else if (s.k === 'augassign') this.assignUnknown(s.target, scope, why);
      else if (s.k === 'for') this.assignUnknown(s.target, scope, why);
      else if (s.k === 'def' || s.k === 'class') scope.assign(s.name, why);
      else if (s.k === 'return') returns = true;
      else if (s.k === 'expr' && s.value.k === 'call' && s.value.func.k === 'attr') {
        // `x.append(…)` and friends change x.
        this.assignUnknown(s.value.func.value, scope, why);
      }
    });
    if (returns) throw new ReturnSignal(why);
  }

  private assignUnknown(target: Expr, scope: Scope, why: Unknown): void {
    if (target.k === 'name' || target.k === 'attr') {
      try {
        this.assign(target, why, scope);
      } catch {
        // the object itself is unknown or read-only: nothing to mark
      }
    } else if (target.k === 'tuple' || target.k === 'list')
      for (const t of target.elts) this.assignUnknown(t, scope, why);
  }

  private assign(target: Expr, value: PyValue, scope: Scope): void {
    switch (target.k) {
      case 'name':
        scope.assign(target.id, value);
        return;
      case 'attr': {
        const obj = this.eval(target.value, scope);
        this.setattr(obj, target.attr, value);
        return;
      }
      case 'subscript': {
        const obj = this.eval(target.value, scope);
        const key = this.eval(target.index, scope);
        if (isUnknown(obj)) return;
        if (isDict(obj)) {
          obj[String(key)] = value;
          return;
        }
        if (Array.isArray(obj) && typeof key === 'number') {
          obj[key < 0 ? obj.length + key : key] = value;
          return;
        }
        return;
      }
      case 'tuple':
      case 'list': {
        const items = this.iterate(value);
        const starAt = target.elts.findIndex((e) => e.k === 'starred');
        if (isUnknown(items)) {
          for (const t of target.elts) this.assignUnknown(t.k === 'starred' ? t.value : t, scope, items);
          return;
        }
        if (starAt < 0) {
          if (items.length !== target.elts.length)
            throw new PyException(
              'ValueError',
              `expected ${target.elts.length} values to unpack, got ${items.length}`,
            );
          target.elts.forEach((t, i) => {
            this.assign(t, items[i]!, scope);
          });
          return;
        }
        const after = target.elts.length - starAt - 1;
        target.elts.forEach((t, i) => {
          if (i < starAt) this.assign(t, items[i]!, scope);
          else if (i === starAt)
            this.assign((t as { value: Expr }).value, items.slice(starAt, items.length - after), scope);
          else this.assign(t, items[items.length - (target.elts.length - i)]!, scope);
        });
        return;
      }
      case 'starred':
        this.assign(target.value, value, scope);
        return;
      default:
        throw new PyException('SyntaxError', `cannot assign to ${target.k}`);
    }
  }

  private delete(target: Expr, scope: Scope): void {
    if (target.k === 'name') scope.vars.delete(target.id);
    else if (target.k === 'subscript') {
      const obj = this.eval(target.value, scope);
      const key = this.eval(target.index, scope);
      if (isDict(obj)) delete obj[String(key)];
      else if (Array.isArray(obj) && typeof key === 'number') obj.splice(key < 0 ? obj.length + key : key, 1);
    }
  }

  // ---- expressions

  eval(expr: Expr, scope: Scope): PyValue {
    switch (expr.k) {
      case 'const':
        return expr.value;
      case 'name': {
        const value = scope.lookup(expr.id);
        if (value === undefined) throw new PyException('NameError', `name '${expr.id}' is not defined`);
        return value;
      }
      case 'fstring':
        return this.fstring(expr, scope);
      case 'list':
        return this.elements(expr.elts, scope);
      case 'tuple': {
        const items = this.elements(expr.elts, scope);
        return isUnknown(items) ? items : tuple(items);
      }
      case 'set': {
        const items = this.elements(expr.elts, scope);
        return isUnknown(items) ? items : new Set(items);
      }
      case 'dict': {
        const d = dict();
        for (const { key, value } of expr.entries) {
          if (key === null) {
            const other = this.eval(value, scope);
            if (isUnknown(other)) return other;
            if (isDict(other)) Object.assign(d, other);
            continue;
          }
          const k = this.eval(key, scope);
          if (isUnknown(k)) return k;
          d[String(k)] = this.eval(value, scope);
        }
        return d;
      }
      case 'attr':
        return this.getattr(this.eval(expr.value, scope), expr.attr);
      case 'subscript':
        return this.subscript(this.eval(expr.value, scope), expr.index, scope);
      case 'slice':
        throw new PyException('SyntaxError', 'slice outside a subscript');
      case 'call':
        return this.call(expr, scope);
      case 'starred':
        return this.eval(expr.value, scope);
      case 'binop':
        return this.binary(expr.op, this.eval(expr.left, scope), this.eval(expr.right, scope));
      case 'unary': {
        const value = this.eval(expr.operand, scope);
        if (expr.op === 'not') {
          const t = truthy(value);
          return isUnknown(t) ? t : !t;
        }
        if (isUnknown(value)) return value;
        if (expr.op === '-') return -(value as number);
        if (expr.op === '+') return +(value as number);
        return ~(value as number);
      }
      case 'boolop': {
        let last: PyValue = null;
        for (const operand of expr.values) {
          last = this.eval(operand, scope);
          const t = truthy(last);
          if (isUnknown(t)) return t;
          if (expr.op === 'and' ? !t : t) return last;
        }
        return last;
      }
      case 'compare': {
        let left = this.eval(expr.left, scope);
        for (let i = 0; i < expr.ops.length; i++) {
          const right = this.eval(expr.comparators[i]!, scope);
          const result = this.compare(expr.ops[i]!, left, right);
          if (isUnknown(result)) return result;
          if (!result) return false;
          left = right;
        }
        return true;
      }
      case 'ifexp': {
        const t = truthy(this.eval(expr.test, scope));
        if (isUnknown(t)) return t;
        return this.eval(t ? expr.body : expr.orelse, scope);
      }
      case 'lambda':
        return new PyFunction(
          '<lambda>',
          expr.params,
          [{ k: 'return', line: 0, value: expr.body }],
          this.paramDefaults(expr.params, scope),
          scope,
          false,
        );
      case 'comp':
        return this.comprehension(expr, scope);
    }
  }

  private paramDefaults(params: Param[], scope: Scope): Map<string, PyValue> {
    const defaults = new Map<string, PyValue>();
    for (const p of params) if (p.default) defaults.set(p.name, this.eval(p.default, scope));
    return defaults;
  }

  private elements(elts: Expr[], scope: Scope): PyValue[] | Unknown {
    const out: PyValue[] = [];
    for (const e of elts) {
      if (e.k === 'starred') {
        const items = this.iterate(this.eval(e.value, scope));
        if (isUnknown(items)) return items;
        out.push(...items);
      } else out.push(this.eval(e, scope));
    }
    return out;
  }

  private fstring(expr: Extract<Expr, { k: 'fstring' }>, scope: Scope): PyValue {
    let out = '';
    for (const part of expr.parts) {
      if (typeof part === 'string') {
        out += part;
        continue;
      }
      const value = this.eval(part.expr, scope);
      if (isUnknown(value)) return value;
      const spec = part.spec ? this.eval(part.spec, scope) : '';
      if (isUnknown(spec)) return spec;
      const shown = part.conversion === 'r' ? repr(value) : value;
      out += spec ? strFormat(`{:${String(spec)}}`, [shown], {}) : str(shown);
    }
    return out;
  }

  private comprehension(expr: Extract<Expr, { k: 'comp' }>, outer: Scope): PyValue {
    const scope = new Scope(outer, outer.module);
    const results: PyValue[] = [];
    const pairs: Array<[PyValue, PyValue]> = [];
    const loop = (i: number): Unknown | undefined => {
      if (i === expr.generators.length) {
        if (expr.kind === 'dict') pairs.push([this.eval(expr.elt, scope), this.eval(expr.value!, scope)]);
        else results.push(this.eval(expr.elt, scope));
        return undefined;
      }
      const gen = expr.generators[i]!;
      const items = this.iterate(this.eval(gen.iter, scope));
      if (isUnknown(items)) return items;
      for (const item of items) {
        this.assign(gen.target, item, scope);
        let keep = true;
        for (const cond of gen.ifs) {
          const t = truthy(this.eval(cond, scope));
          if (isUnknown(t)) return t;
          if (!t) {
            keep = false;
            break;
          }
        }
        if (keep) {
          const stop = loop(i + 1);
          if (stop) return stop;
        }
      }
      return undefined;
    };
    const stop = loop(0);
    if (stop) return stop;
    if (expr.kind === 'dict') return dict(pairs.map(([k, v]) => [String(k), v]));
    if (expr.kind === 'set') return new Set(results);
    return results;
  }

  private subscript(obj: PyValue, index: Expr, scope: Scope): PyValue {
    if (index.k === 'slice') {
      const lower = index.lower ? this.eval(index.lower, scope) : null;
      const upper = index.upper ? this.eval(index.upper, scope) : null;
      const step = index.step ? this.eval(index.step, scope) : null;
      if ([obj, lower, upper, step].some(isUnknown)) return unknown('slice of an unknown value');
      return slice(obj, lower as number | null, upper as number | null, step as number | null);
    }
    const key = this.eval(index, scope);
    return this.getitem(obj, key);
  }

  getitem(obj: PyValue, key: PyValue): PyValue {
    if (isUnknown(obj)) return obj;
    if (isUnknown(key)) return key;
    if (isDict(obj)) {
      const k = String(key);
      if (!Object.hasOwn(obj, k)) throw new PyException('KeyError', repr(key));
      return obj[k]!;
    }
    if (Array.isArray(obj) || typeof obj === 'string') {
      if (typeof key !== 'number') throw new PyException('TypeError', 'indices must be integers');
      const at = key < 0 ? obj.length + key : key;
      if (at < 0 || at >= obj.length) throw new PyException('IndexError', 'index out of range');
      return obj[at]!;
    }
    if (isNative(obj) && obj.getitem) return obj.getitem(key);
    if (obj instanceof PyInstance || obj instanceof PyClass) {
      const getter = this.getattr(obj, '__getitem__');
      if (!isUnknown(getter)) return this.callValue(getter, [key], {});
    }
    throw new PyException('TypeError', `'${typeName(obj)}' object is not subscriptable`);
  }

  getattr(obj: PyValue, name: string): PyValue {
    if (isUnknown(obj)) return obj;
    if (obj instanceof PyInstance) {
      if (obj.attrs.has(name)) return obj.attrs.get(name)!;
      const found = obj.cls.lookup(name);
      if (found instanceof PyFunction) return new BoundMethod(found, obj);
      if (found !== undefined) return found;
      const getattr = obj.cls.lookup('__getattr__');
      if (getattr instanceof PyFunction) return this.callValue(new BoundMethod(getattr, obj), [name], {});
      throw new PyException('AttributeError', `'${obj.cls.name}' object has no attribute '${name}'`);
    }
    if (obj instanceof PyClass) {
      const found = obj.lookup(name);
      if (found !== undefined && obj.opaqueBase && !(found instanceof PyFunction))
        return unknown(`${obj.name}.${name}`);
      if (found !== undefined) return found;
      if (name === '__name__') return obj.name;
      throw new PyException('AttributeError', `type object '${obj.name}' has no attribute '${name}'`);
    }
    if (obj instanceof PyException) {
      if (name === 'args') return tuple([obj.message]);
      return unknown(`${obj.type}.${name}`);
    }
    if (isNative(obj)) {
      const value = obj.getattr(name);
      if (value === undefined)
        throw new PyException('AttributeError', `'${obj.pyType}' object has no attribute '${name}'`);
      return value;
    }
    if (obj instanceof Set) {
      if (name === 'add')
        return native('add', ([v]) => {
          obj.add(v!);
          return null;
        });
      if (name === 'update')
        return native('update', (args) => {
          for (const a of args) for (const v of this.iterate(a) as PyValue[]) obj.add(v);
          return null;
        });
      if (name === 'union')
        return native(
          'union',
          (args) => new Set([...obj, ...args.flatMap((a) => this.iterate(a) as PyValue[])]),
        );
    }
    if (Array.isArray(obj) && !isTuple(obj) && name === 'sort')
      return native('sort', (_a, kw) => {
        const sorted = this.sorted(obj, kw);
        if (!isUnknown(sorted)) obj.splice(0, obj.length, ...sorted);
        return null;
      });
    if (isTuple(obj) && ['append', 'extend', 'insert', 'remove', 'pop', 'clear', 'sort'].includes(name))
      throw new PyException('AttributeError', `'tuple' object has no attribute '${name}'`);
    if (typeof obj === 'string' || Array.isArray(obj) || isDict(obj)) {
      const method = member(obj, name);
      if (typeof method === 'function')
        return native(name, (args, kw) =>
          fromJs(
            (method as (...a: unknown[]) => unknown)(
              ...args,
              ...(Object.keys(kw).length ? [{ ...kw, __keywords: true }] : []),
            ),
          ),
        );
    }
    throw new PyException('AttributeError', `'${typeName(obj)}' object has no attribute '${name}'`);
  }

  setattr(obj: PyValue, name: string, value: PyValue): void {
    if (isUnknown(obj)) return;
    if (obj instanceof PyInstance) obj.attrs.set(name, value);
    else if (obj instanceof PyClass) obj.attrs.set(name, value);
    else if (isNative(obj) && obj.setattr) obj.setattr(name, value);
    else throw new PyException('AttributeError', `cannot set '${name}' on '${typeName(obj)}'`);
  }

  private call(expr: Extract<Expr, { k: 'call' }>, scope: Scope): PyValue {
    const fn = this.eval(expr.func, scope);
    const args = this.elements(expr.args, scope);
    const kwargs: Record<string, PyValue> = {};
    for (const kw of expr.keywords) {
      const value = this.eval(kw.value, scope);
      if (kw.name !== null) kwargs[kw.name] = value;
      else if (isDict(value)) Object.assign(kwargs, value);
      else return unknown('**kwargs of an unknown value');
    }
    if (isUnknown(fn)) return fn;
    if (isUnknown(args)) return args;
    return this.callValue(fn, args, kwargs);
  }

  callValue(fn: PyValue, args: PyValue[], kwargs: Record<string, PyValue>): PyValue {
    if (isUnknown(fn)) return fn;
    if (fn instanceof Builtin) return fn.fn(args, kwargs);
    if (fn instanceof BoundMethod) return this.callFunction(fn.fn, [fn.self, ...args], kwargs);
    if (fn instanceof PyFunction) return this.callFunction(fn, args, kwargs);
    if (fn instanceof PyClass) {
      if (isExceptionClass(fn)) return new PyException(fn.name, args.map((a) => str(a)).join(', '), fn);
      const instance = new PyInstance(fn);
      const init = fn.lookup('__init__');
      if (init instanceof PyFunction) this.callFunction(init, [instance, ...args], kwargs);
      return instance;
    }
    if (isNative(fn)) {
      const call = fn.getattr('__call__');
      if (call !== undefined) return this.callValue(call, args, kwargs);
    }
    throw new PyException('TypeError', `'${typeName(fn)}' object is not callable`);
  }

  private callFunction(fn: PyFunction, args: PyValue[], kwargs: Record<string, PyValue>): PyValue {
    if (this.depth >= MAX_CALL_DEPTH)
      throw new PyException('RecursionError', 'maximum recursion depth exceeded');
    const scope = new Scope(fn.closure, fn.closure.module);
    bindArguments(fn, args, kwargs, scope);
    const frame: Frame = { yields: fn.isGenerator ? [] : null };
    this.depth++;
    try {
      this.execBlock(fn.body, scope, frame);
    } catch (signal) {
      if (signal instanceof ReturnSignal) return fn.isGenerator ? frame.yields! : signal.value;
      throw signal;
    } finally {
      this.depth--;
    }
    return fn.isGenerator ? frame.yields! : null;
  }

  iterate(value: PyValue): PyValue[] | Unknown {
    if (isUnknown(value)) return value;
    if (Array.isArray(value)) return value.some(isUnknown) ? (value.find(isUnknown) as Unknown) : [...value];
    if (typeof value === 'string') return [...value];
    if (value instanceof Set) return [...value];
    if (isDict(value)) return Object.keys(value);
    if (isNative(value) && value.iterate) return value.iterate();
    throw new PyException('TypeError', `'${typeName(value)}' object is not iterable`);
  }

  sorted(value: PyValue, kwargs: Record<string, PyValue>): PyValue[] | Unknown {
    const items = this.iterate(value);
    if (isUnknown(items)) return items;
    const key = kwargs.key;
    const keyed = items.map((item) => ({
      item,
      key: key === undefined || key === null ? item : this.callValue(key, [item], {}),
    }));
    if (keyed.some((k) => isUnknown(k.key))) return unknown('sort key');
    keyed.sort((a, b) => compareValues(a.key, b.key));
    const out = keyed.map((k) => k.item);
    return kwargs.reverse === true ? out.reverse() : out;
  }

  binary(op: string, left: PyValue, right: PyValue): PyValue {
    if (isUnknown(left)) return left;
    if (isUnknown(right)) return right;
    switch (op) {
      case '+':
        if (Array.isArray(left) && Array.isArray(right)) {
          const joined = [...left, ...right];
          return isTuple(left) ? tuple(joined) : joined;
        }
        if (typeof left === 'string' && typeof right === 'string') return left + right;
        if (isNumeric(left) && isNumeric(right)) return Number(left) + Number(right);
        break;
      case '-':
        if (left instanceof Set && right instanceof Set)
          return new Set([...left].filter((x) => !right.has(x)));
        if (isNumeric(left) && isNumeric(right)) return Number(left) - Number(right);
        break;
      case '*':
        if ((Array.isArray(left) || typeof left === 'string') && typeof right === 'number')
          return repeat(left, right);
        if ((Array.isArray(right) || typeof right === 'string') && typeof left === 'number')
          return repeat(right, left);
        if (isNumeric(left) && isNumeric(right)) return Number(left) * Number(right);
        break;
      case '/':
        if (isNumeric(left) && isNumeric(right)) {
          if (Number(right) === 0) throw new PyException('ZeroDivisionError', 'division by zero');
          return Number(left) / Number(right);
        }
        break;
      case '//':
        if (isNumeric(left) && isNumeric(right)) {
          if (Number(right) === 0) throw new PyException('ZeroDivisionError', 'division by zero');
          return Math.floor(Number(left) / Number(right));
        }
        break;
      case '%':
        if (typeof left === 'string')
          return percentFormat(left, isTuple(right) ? (right as PyValue[]) : [right]);
        if (isNumeric(left) && isNumeric(right)) {
          const r = Number(left) % Number(right);
          return r !== 0 && Math.sign(r) !== Math.sign(Number(right)) ? r + Number(right) : r;
        }
        break;
      case '**':
        if (isNumeric(left) && isNumeric(right)) return Number(left) ** Number(right);
        break;
      case '|':
        if (left instanceof Set && right instanceof Set) return new Set([...left, ...right]);
        if (isDict(left) && isDict(right)) return Object.assign(dict(), left, right);
        if (isNumeric(left) && isNumeric(right)) return Number(left) | Number(right);
        break;
      case '&':
        if (left instanceof Set && right instanceof Set)
          return new Set([...left].filter((x) => right.has(x)));
        if (isNumeric(left) && isNumeric(right)) return Number(left) & Number(right);
        break;
      case '^':
        if (isNumeric(left) && isNumeric(right)) return Number(left) ^ Number(right);
        break;
      case '<<':
        if (isNumeric(left) && isNumeric(right)) return Number(left) << Number(right);
        break;
      case '>>':
        if (isNumeric(left) && isNumeric(right)) return Number(left) >> Number(right);
        break;
    }
    throw new PyException(
      'TypeError',
      `unsupported operand type(s) for ${op}: '${typeName(left)}' and '${typeName(right)}'`,
    );
  }

  private compare(op: string, left: PyValue, right: PyValue): boolean | Unknown {
    if (op === 'is' || op === 'is not') {
      if (isUnknown(left)) return left;
      if (isUnknown(right)) return right;
      const same = left === right;
      return op === 'is' ? same : !same;
    }
    if (isUnknown(left)) return left;
    if (isUnknown(right)) return right;
    switch (op) {
      case '==':
        return pyEquals(left, right);
      case '!=':
        return !pyEquals(left, right);
      case 'in':
      case 'not in': {
        let found: boolean;
        if (typeof right === 'string') found = right.includes(String(left));
        else if (Array.isArray(right)) found = right.some((x) => pyEquals(x, left));
        else if (right instanceof Set) found = right.has(left);
        else if (isDict(right)) found = Object.hasOwn(right, String(left));
        else if (isNative(right) && right.contains) found = right.contains(left);
        else if (isNative(right) && right.iterate) found = right.iterate().some((x) => pyEquals(x, left));
        else throw new PyException('TypeError', `argument of type '${typeName(right)}' is not iterable`);
        return op === 'in' ? found : !found;
      }
      default: {
        const c = compareValues(left, right);
        if (op === '<') return c < 0;
        if (op === '>') return c > 0;
        if (op === '<=') return c <= 0;
        return c >= 0;
      }
    }
  }
}

function isNumeric(v: PyValue): v is number | boolean {
  return typeof v === 'number' || typeof v === 'boolean';
}

function repeat(seq: PyValue[] | string, n: number): PyValue {
  const times = Math.max(0, Math.trunc(n));
  if (typeof seq === 'string') return seq.repeat(times);
  const out = Array.from({ length: times }, () => seq).flat();
  return isTuple(seq) ? tuple(out) : out;
}

export function compareValues(a: PyValue, b: PyValue): number {
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const c = compareValues(a[i]!, b[i]!);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  if (isNumeric(a) && isNumeric(b)) return Number(a) - Number(b);
  throw new PyException(
    'TypeError',
    `'<' not supported between instances of '${typeName(a)}' and '${typeName(b)}'`,
  );
}

function slice(obj: PyValue, lower: number | null, upper: number | null, step: number | null): PyValue {
  if (!(Array.isArray(obj) || typeof obj === 'string'))
    throw new PyException('TypeError', `'${typeName(obj)}' object is not subscriptable`);
  const len = obj.length;
  const s = step ?? 1;
  const norm = (v: number | null, dflt: number) =>
    v === null ? dflt : v < 0 ? Math.max(len + v, s < 0 ? -1 : 0) : Math.min(v, s < 0 ? len - 1 : len);
  const start = norm(lower, s < 0 ? len - 1 : 0);
  const stop = norm(upper, s < 0 ? -1 : len);
  const items: PyValue[] = [];
  for (let i = start; s > 0 ? i < stop : i > stop; i += s) items.push(obj[i]!);
  if (typeof obj === 'string') return items.join('');
  return isTuple(obj) ? tuple(items) : items;
}

function bindArguments(fn: PyFunction, args: PyValue[], kwargs: Record<string, PyValue>, scope: Scope): void {
  const remainingKw = { ...kwargs };
  let i = 0;
  let afterStar = false;
  for (const p of fn.params) {
    if (p.kind === 'star') {
      afterStar = true;
      if (p.name) scope.assign(p.name, tuple(args.slice(i)));
      i = args.length;
    } else if (p.kind === 'kwstar') {
      scope.assign(p.name, dict(Object.entries(remainingKw)));
      for (const k of Object.keys(remainingKw)) delete remainingKw[k];
    } else if (!afterStar && i < args.length) {
      scope.assign(p.name, args[i++]!);
    } else if (Object.hasOwn(remainingKw, p.name)) {
      scope.assign(p.name, remainingKw[p.name]!);
      delete remainingKw[p.name];
    } else if (fn.defaults.has(p.name)) {
      scope.assign(p.name, fn.defaults.get(p.name)!);
    } else {
      throw new PyException('TypeError', `${fn.name}() missing required argument: '${p.name}'`);
    }
  }
  if (i < args.length)
    throw new PyException(
      'TypeError',
      `${fn.name}() takes ${i} positional arguments but ${args.length} were given`,
    );
  const extra = Object.keys(remainingKw);
  if (extra.length > 0)
    throw new PyException('TypeError', `${fn.name}() got an unexpected keyword argument '${extra[0]}'`);
}

function containsYield(body: Stmt[]): boolean {
  let found = false;
  walkStatements(body, (s) => {
    if (s.k === 'yield') found = true;
  });
  return found;
}

/** Every statement in a body, nested blocks included, functions and classes not entered. */
export function walkStatements(body: Stmt[], visit: (s: Stmt) => void): void {
  for (const s of body) {
    visit(s);
    switch (s.k) {
      case 'if':
      case 'for':
      case 'while':
        walkStatements(s.body, visit);
        walkStatements(s.orelse, visit);
        break;
      case 'try':
        walkStatements(s.body, visit);
        for (const h of s.handlers) walkStatements(h.body, visit);
        walkStatements(s.orelse, visit);
        walkStatements(s.finalbody, visit);
        break;
      case 'with':
        walkStatements(s.body, visit);
        break;
    }
  }
}

export function native(
  name: string,
  fn: (args: PyValue[], kwargs: Record<string, PyValue>) => PyValue,
): Builtin {
  return new Builtin(name, fn);
}

/** A value returned by the shared Python helpers (python.ts) as an interpreter value. */
function fromJs(value: unknown): PyValue {
  if (value === undefined) return null;
  if (Array.isArray(value)) return value.map(fromJs);
  return value as PyValue;
}

/** Python's str(). */
export function str(value: PyValue): string {
  if (value === null) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : pyFloat(value);
  if (typeof value === 'string') return value;
  if (value instanceof PyException) return value.message;
  if (value instanceof Unknown) return value.toString();
  return repr(value);
}

function pyFloat(n: number): string {
  const s = String(n);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** Python's repr(). */
export function repr(value: PyValue): string {
  if (typeof value === 'string') {
    const quote = value.includes("'") && !value.includes('"') ? '"' : "'";
    const body = value.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('\t', '\\t');
    return quote + (quote === "'" ? body.replaceAll("'", "\\'") : body) + quote;
  }
  if (isTuple(value)) {
    const items = value as PyValue[];
    return items.length === 1 ? `(${repr(items[0]!)},)` : `(${items.map(repr).join(', ')})`;
  }
  if (Array.isArray(value)) return `[${value.map(repr).join(', ')}]`;
  if (value instanceof Set) return value.size === 0 ? 'set()' : `{${[...value].map(repr).join(', ')}}`;
  if (isDict(value))
    return `{${Object.entries(value)
      .map(([k, v]) => `${repr(k)}: ${repr(v)}`)
      .join(', ')}}`;
  if (value instanceof PyFunction) return `<function ${value.name}>`;
  if (value instanceof PyClass) return `<class '${value.name}'>`;
  if (value instanceof PyInstance) return `<${value.cls.name} object>`;
  if (isNative(value)) return `<${(value as NativeObject).pyType}>`;
  return str(value);
}

const EXCEPTION_PARENTS: Record<string, string[]> = {
  KeyError: ['LookupError', 'Exception', 'BaseException'],
  IndexError: ['LookupError', 'Exception', 'BaseException'],
  ValueError: ['Exception', 'BaseException'],
  TypeError: ['Exception', 'BaseException'],
  AttributeError: ['Exception', 'BaseException'],
  NameError: ['Exception', 'BaseException'],
  OSError: ['Exception', 'BaseException', 'IOError', 'EnvironmentError'],
  FileNotFoundError: ['OSError', 'Exception', 'BaseException'],
  ZeroDivisionError: ['ArithmeticError', 'Exception', 'BaseException'],
  RuntimeError: ['Exception', 'BaseException'],
  RecursionError: ['RuntimeError', 'Exception', 'BaseException'],
  ImportError: ['Exception', 'BaseException'],
  Exception: ['BaseException'],
};

const EXCEPTION_NAMES = new Set(['Exception', 'BaseException', ...Object.keys(EXCEPTION_PARENTS)]);

function isExceptionClass(cls: PyClass): boolean {
  return EXCEPTION_NAMES.has(cls.name) || cls.bases.some(isExceptionClass);
}

export { EXCEPTION_NAMES, EXCEPTION_PARENTS };
