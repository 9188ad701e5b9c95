// Kolla's Python package as a program the interpreter can load: `kolla.*` modules are read from
// the checkout and interpreted on first import; oslo.config, os, re and itertools are the
// emulations of stdlib.ts and oslo.ts; `kolla.version` (pbr) is given the checkout's commit and
// version; anything else (docker, git, jinja2, requests, …) is an opaque module.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Interpreter, native } from '../../python/interpret.js';
import { parseModule } from '../../python/parse.js';
import {
  builtinScope,
  itertoolsModule,
  NativeModule,
  opaqueModule,
  osModule,
  reModule,
  ScopeModule,
} from '../../python/stdlib.js';
import { PythonSyntaxError } from '../../python/tokenize.js';
import { PyClass, PyException, type PyValue, type Scope, unknown } from '../../python/values.js';
import { ConfigOpts, type ConfigSources, cfgModule, typesModule } from './oslo.js';

export interface ProgramOptions {
  /** The `kolla` package directory. */
  packageDir: string;
  sources: ConfigSources;
  /** `os.uname()[4]`: the architecture kolla-build defaults to. */
  hostArch: string;
  /** pbr: the short commit (empty outside git) and the package version. */
  gitShortCommit: string;
  version: string;
}

/** A statement of a Kolla module that failed; the module goes on with the next one. */
export interface ModuleProblem {
  file: string;
  line: number;
  message: string;
}

export class KollaProgram {
  readonly interpreter: Interpreter;
  readonly problems: ModuleProblem[] = [];
  private readonly modules = new Map<string, PyValue>();
  private readonly builtins: Scope;

  constructor(private readonly options: ProgramOptions) {
    this.builtins = builtinScope(() => this.interpreter);
    this.interpreter = new Interpreter(this.builtins, (name) => this.load(name));
  }

  /** A new ConfigOpts over the sources (what `cfg.ConfigOpts()` returns). */
  newConf(): ConfigOpts {
    return new ConfigOpts(this.options.sources, this.builtins.vars.get('AttributeError') as PyClass);
  }

  /** The file of a `kolla.*` module, when the checkout has it. */
  fileOf(name: string): string | undefined {
    const rel = name.split('.').slice(1);
    const base = path.join(this.options.packageDir, ...rel);
    for (const file of [`${base}.py`, path.join(base, '__init__.py')]) if (existsSync(file)) return file;
    return undefined;
  }

  load(name: string): PyValue {
    const cached = this.modules.get(name);
    if (cached !== undefined) return cached;
    const module = this.create(name);
    this.modules.set(name, module);
    return module;
  }

  /** The scope of an interpreted `kolla.*` module, or undefined when the checkout lacks it. */
  scopeOf(name: string): Scope | undefined {
    const module = this.load(name);
    return module instanceof ScopeModule ? module.scope : undefined;
  }

  private create(name: string): PyValue {
    switch (name) {
      case 'os':
        return osModule(this.options.hostArch);
      case 'os.path':
        return (osModule(this.options.hostArch).getattr('path') as PyValue) ?? unknown('os.path');
      case 're':
        return reModule();
      case 'itertools':
        return itertoolsModule();
      case 'enum':
        return new NativeModule('enum', { Enum: new PyClass('Enum', new Map(), []) });
      case 'oslo_config':
        return new NativeModule('oslo_config', {
          cfg: this.load('oslo_config.cfg'),
          types: this.load('oslo_config.types'),
        });
      case 'oslo_config.cfg':
        return cfgModule(() => this.newConf());
      case 'oslo_config.types':
        return typesModule();
      case 'kolla':
        return new NativeModule('kolla', {});
      case 'kolla.version': {
        const versionInfo = new NativeModule('pbr.version.VersionInfo', {
          cached_version_string: native('cached_version_string', () => this.options.version),
          version_string: native('version_string', () => this.options.version),
          release_string: native('release_string', () => this.options.version),
        });
        return new NativeModule('kolla.version', {
          version_info: versionInfo,
          git_info: this.options.gitShortCommit,
        });
      }
    }
    if (!name.startsWith('kolla.')) return opaqueModule(name);
    const file = this.fileOf(name);
    if (file === undefined) return opaqueModule(name);
    return this.interpretFile(name, file);
  }

  private interpretFile(name: string, file: string): PyValue {
    let body: ReturnType<typeof parseModule>;
    try {
      body = parseModule(readFileSync(file, 'utf8'));
    } catch (err) {
      if (err instanceof PythonSyntaxError) {
        this.problems.push({ file, line: err.line, message: err.message });
        return opaqueModule(name);
      }
      throw err;
    }
    // Registered before running, so a circular import sees the partial module, as in Python.
    const module = new ScopeModule(name, this.interpreter.runModule([]));
    module.scope.vars.set('__file__', file);
    module.scope.vars.set('__name__', name);
    this.modules.set(name, module);
    for (const stmt of body) {
      try {
        this.interpreter.execBlock([stmt], module.scope, { yields: null });
      } catch (err) {
        if (!(err instanceof PyException)) throw err;
        this.problems.push({ file, line: stmt.line, message: `${err.type}: ${err.message}` });
        // What the failed statement would have defined is unknown, not missing.
        if (stmt.k === 'assign')
          for (const t of stmt.targets) if (t.k === 'name') module.scope.vars.set(t.id, unknown(err.message));
      }
    }
    return module;
  }
}
