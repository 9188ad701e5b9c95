// oslo.config, as far as kolla-build uses it: option classes (StrOpt, IntOpt, BoolOpt, ListOpt,
// DictOpt, MultiOpt, …), option groups, and ConfigOpts — registration, set_default, overrides,
// values from a kolla-build.conf and from the command line, and `$name` / `${group.name}`
// substitution in string values. The order a value is taken in is oslo's: set_override, then
// the command line and config file, then set_default, then the option's own default.

import { native, str } from '../../python/interpret.js';
import { NativeModule } from '../../python/stdlib.js';
import {
  dict,
  isDict,
  isUnknown,
  type NativeObject,
  PyClass,
  PyException,
  type PyValue,
  tuple,
  unknown,
} from '../../python/values.js';

export type OptKind = 'str' | 'int' | 'float' | 'bool' | 'list' | 'dict' | 'multi';

export class Opt implements NativeObject {
  readonly pyType = 'Opt';
  /** The attribute (`conf.install_type`) and the config file's key: `dest=`, else the name. */
  readonly dest: string;
  /** The name as a command line spells it (`--type`), dashes as underscores. */
  readonly cliKey: string;
  constructor(
    readonly kind: OptKind,
    readonly name: string,
    readonly fields: Record<string, PyValue>,
  ) {
    this.cliKey = name.replaceAll('-', '_');
    // Kolla up to Zed declared `StrOpt('type', short='t', dest='install_type')`.
    const dest = fields.dest;
    this.dest = typeof dest === 'string' && dest !== '' ? dest : this.cliKey;
  }
  get default(): PyValue {
    return this.fields.default ?? (this.kind === 'multi' ? [] : null);
  }
  getattr(name: string): PyValue | undefined {
    if (name === 'name') return this.name;
    if (name === 'dest') return this.dest;
    if (name === 'default') return this.default;
    return this.fields[name] ?? null;
  }
}

const OPT_KINDS: Record<string, OptKind> = {
  StrOpt: 'str',
  Opt: 'str',
  URIOpt: 'str',
  HostAddressOpt: 'str',
  IPOpt: 'str',
  IntOpt: 'int',
  PortOpt: 'int',
  FloatOpt: 'float',
  BoolOpt: 'bool',
  ListOpt: 'list',
  DictOpt: 'dict',
  MultiOpt: 'multi',
  MultiStrOpt: 'multi',
};

/**
 * Values given from outside the code, as text: a kolla-build.conf, with command-line options
 * appended to its DEFAULT section (the last value given wins, as on kolla-build's command line).
 */
export interface ConfigSources {
  /** Section → option (dest form) → every value given, in order. */
  file: Map<string, Map<string, string[]>>;
}

const DEFAULT_GROUP = 'DEFAULT';

export class ConfigOpts implements NativeObject {
  readonly pyType = 'ConfigOpts';
  private readonly groups = new Map<string, Map<string, Opt>>([[DEFAULT_GROUP, new Map()]]);
  private readonly defaults = new Map<string, PyValue>();
  private readonly overrides = new Map<string, PyValue>();
  private readonly attrs = new Map<string, PyValue>();
  readonly noSuchOpt: PyClass;

  constructor(
    private readonly sources: ConfigSources,
    attributeError: PyClass,
  ) {
    this.noSuchOpt = new PyClass('NoSuchOptError', new Map(), [attributeError]);
  }

  register(opts: PyValue, group: PyValue): void {
    const name = groupName(group);
    if (!this.groups.has(name)) this.groups.set(name, new Map());
    const list = Array.isArray(opts) ? opts : [opts];
    for (const opt of list) {
      if (!(opt instanceof Opt)) continue;
      const existing = this.groups.get(name)!.get(opt.dest);
      if (existing && existing !== opt && !sameOpt(existing, opt))
        throw new PyException('DuplicateOptError', `duplicate option: ${opt.name}`, duplicateOptError);
      this.groups.get(name)!.set(opt.dest, opt);
    }
  }

  /** register() as Python sees it: returns None. */
  private registered(opts: PyValue, group: PyValue): null {
    this.register(opts, group);
    return null;
  }

  hasGroup(name: string): boolean {
    return this.groups.has(name);
  }

  /** Registered group names besides DEFAULT. */
  groupNames(): string[] {
    return [...this.groups.keys()].filter((g) => g !== DEFAULT_GROUP);
  }

  /** Sections of the config file, DEFAULT included when present. */
  fileSections(): string[] {
    return [...this.sources.file.keys()];
  }

  /** Whether `key` names a registered option of the group, by its dest or its command-line name. */
  knows(group: string, key: string): boolean {
    return this.optionsOf(group).some((o) => o.dest === key || o.cliKey === key);
  }

  optionsOf(group: string): Opt[] {
    return [...(this.groups.get(group)?.values() ?? [])];
  }

  /** The value of an option, with substitution; a missing option raises NoSuchOptError. */
  value(group: string, dest: string): PyValue {
    const opt = this.groups.get(group)?.get(dest);
    if (!opt)
      throw new PyException(
        'NoSuchOptError',
        group === DEFAULT_GROUP
          ? `no such option ${dest} in group [DEFAULT]`
          : `no such option ${dest} in group [${group}]`,
        this.noSuchOpt,
      );
    const key = `${group}\0${dest}`;
    let value: PyValue;
    if (this.overrides.has(key)) value = this.overrides.get(key)!;
    else {
      // The file names an option by its dest; a command-line value (appended) by its name.
      const section = this.sources.file.get(group);
      const given = [
        ...(section?.get(dest) ?? []),
        ...(opt.cliKey !== dest ? (section?.get(opt.cliKey) ?? []) : []),
      ];
      if (given.length > 0) value = convert(opt, given);
      else if (this.defaults.has(key)) value = this.defaults.get(key)!;
      else value = opt.default;
    }
    return this.substitute(value, group, new Set([key]));
  }

  private substitute(value: PyValue, group: string, seen: Set<string>): PyValue {
    if (typeof value === 'string') return this.substituteText(value, group, seen);
    if (Array.isArray(value)) return value.map((v) => this.substitute(v, group, seen));
    if (isDict(value)) {
      const out = dict();
      for (const [k, v] of Object.entries(value)) out[k] = this.substitute(v, group, seen);
      return out;
    }
    return value;
  }

  /** string.Template syntax as oslo uses it: `$name`, `${name}`, `${group.name}`, `$$`. */
  private substituteText(text: string, group: string, seen: Set<string>): PyValue {
    let unknownPart: PyValue | null = null;
    const out = text.replace(
      /\$(?:\$|([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_.-]*)\})/g,
      (m, bare, braced) => {
        if (m === '$$') return '$';
        const ref: string = bare ?? braced;
        const [refGroup, refName] = ref.includes('.')
          ? [ref.slice(0, ref.indexOf('.')), ref.slice(ref.indexOf('.') + 1)]
          : [null, ref];
        const candidates = refGroup !== null ? [refGroup] : [group, DEFAULT_GROUP];
        for (const g of candidates) {
          const dest = refName.replaceAll('-', '_');
          if (!this.groups.get(g)?.has(dest)) continue;
          const key = `${g}\0${dest}`;
          if (seen.has(key))
            throw new PyException('TemplateSubstitutionError', `recursive substitution of ${ref}`);
          const v = this.value(g, dest);
          if (isUnknown(v)) unknownPart = v;
          return str(v);
        }
        throw new PyException('TemplateSubstitutionError', `${m}: no option ${ref}`);
      },
    );
    return unknownPart ?? out;
  }

  getattr(name: string): PyValue | undefined {
    if (this.attrs.has(name)) return this.attrs.get(name)!;
    switch (name) {
      case 'register_opt':
      case 'register_cli_opt':
        return native(name, ([opt, group], kw) => this.registered(opt!, kw.group ?? group ?? null));
      case 'register_opts':
      case 'register_cli_opts':
        return native(name, ([opts, group], kw) => this.registered(opts!, kw.group ?? group ?? null));
      case 'register_group':
        return native(name, ([group]) => this.registered([], group!));
      case 'set_default':
      case 'set_override':
        return native(name, ([optName, value, group], kw) => {
          const g = groupName(kw.group ?? group ?? null);
          const map = name === 'set_default' ? this.defaults : this.overrides;
          map.set(
            `${g}\0${String(optName).replaceAll('-', '_')}`,
            value ?? kw.default ?? kw.override ?? null,
          );
          return null;
        });
      case 'clear_override':
        return native(name, ([optName, group]) => {
          this.overrides.delete(`${groupName(group ?? null)}\0${String(optName).replaceAll('-', '_')}`);
          return null;
        });
      case '__call__':
        // Parsing the command line and config files: their values are already in `sources`.
        return native('__call__', () => null);
      case 'list_all_sections':
        return native(name, () => this.fileSections());
      case '_groups':
        return dict(this.groupNames().map((g) => [g, new GroupView(this, g)]));
      case '_get_group':
        return native(name, ([g]) => new GroupView(this, groupName(g!)));
      case '_get':
        return native(name, ([optName, group]) =>
          this.value(group instanceof GroupView ? group.group : groupName(group ?? null), String(optName)),
        );
      case 'keys':
        return native(name, () => [...this.groups.get(DEFAULT_GROUP)!.keys(), ...this.groupNames()]);
    }
    if (this.groups.has(name) && name !== DEFAULT_GROUP) return new GroupView(this, name);
    return this.value(DEFAULT_GROUP, name);
  }

  setattr(name: string, value: PyValue): void {
    // ConfigOpts has no __setattr__: the assignment shadows the option, as in Python.
    this.attrs.set(name, value);
  }

  getitem(key: PyValue): PyValue {
    return this.getattr(String(key)) ?? null;
  }
}

export class GroupView implements NativeObject {
  readonly pyType = 'GroupAttr';
  constructor(
    private readonly conf: ConfigOpts,
    readonly group: string,
  ) {}
  getattr(name: string): PyValue | undefined {
    return this.conf.value(this.group, name);
  }
  getitem(key: PyValue): PyValue {
    return this.conf.value(this.group, String(key));
  }
  iterate(): PyValue[] {
    return this.conf.optionsOf(this.group).map((o) => o.dest);
  }
}

function groupName(group: PyValue): string {
  if (group === null || group === undefined) return DEFAULT_GROUP;
  if (group instanceof GroupView) return group.group;
  if (group instanceof NativeModule && group.name === 'OptGroup') return str(group.getattr('name')!);
  return String(group);
}

function sameOpt(a: Opt, b: Opt): boolean {
  return a.kind === b.kind && a.name === b.name && str(a.default) === str(b.default);
}

const TRUE = new Set(['true', '1', 'on', 'yes']);
const FALSE = new Set(['false', '0', 'off', 'no']);

/** A config file's text as the option's type. */
function convert(opt: Opt, given: string[]): PyValue {
  const last = given[given.length - 1]!;
  switch (opt.kind) {
    case 'int': {
      const n = Number.parseInt(last, 10);
      if (Number.isNaN(n))
        throw new PyException('ValueError', `option ${opt.name}: "${last}" is not an integer`);
      return n;
    }
    case 'float':
      return Number(last);
    case 'bool': {
      const v = last.trim().toLowerCase();
      if (TRUE.has(v)) return true;
      if (FALSE.has(v)) return false;
      throw new PyException('ValueError', `option ${opt.name}: "${last}" is not a boolean`);
    }
    case 'list':
      return last.trim() === '' ? [] : last.split(',').map((s) => s.trim());
    case 'dict':
      return dict(
        last.trim() === ''
          ? []
          : last.split(',').map((pair) => {
              const at = pair.indexOf(':');
              return [pair.slice(0, at).trim(), pair.slice(at + 1).trim()] as [string, PyValue];
            }),
      );
    case 'multi':
      return [...given];
    default:
      return withinChoices(opt, last);
  }
}

/**
 * A string option with `choices` (kolla's `base`) takes only those, as oslo checks when it parses:
 * `--base arch` otherwise reached Kolla's code as a KeyError. Choices are values or
 * (value, description) pairs.
 */
function withinChoices(opt: Opt, value: string): string {
  const choices = opt.fields.choices;
  if (!Array.isArray(choices) || choices.length === 0) return value;
  const allowed = choices.map((c) => (Array.isArray(c) ? c[0] : c)).map(String);
  if (allowed.includes(value)) return value;
  throw new PyException('ValueError', `option ${opt.name}: "${value}" is not one of ${allowed.join(', ')}`);
}

const duplicateOptError = new PyClass('DuplicateOptError', new Map(), []);

/** `from oslo_config import cfg`. */
export function cfgModule(makeConf: () => ConfigOpts): NativeModule {
  const attrs: Record<string, PyValue> = {};
  for (const [cls, kind] of Object.entries(OPT_KINDS))
    attrs[cls] = native(cls, ([name, ...rest], kw) => {
      const fields: Record<string, PyValue> = { ...kw };
      // MultiOpt(name, item_type, …): the second positional is the item type.
      if (cls === 'MultiOpt' && rest[0] !== undefined) fields.item_type = rest[0];
      return new Opt(kind, String(name), fields);
    });
  attrs.OptGroup = native(
    'OptGroup',
    ([name], kw) => new NativeModule('OptGroup', { name: name ?? kw.name ?? null }),
  );
  attrs.ConfigOpts = native('ConfigOpts', () => makeConf());
  attrs.CONF = unknown('cfg.CONF');
  attrs.DuplicateOptError = duplicateOptError;
  attrs.NoSuchOptError = new PyClass('NoSuchOptError', new Map(), []);
  attrs.Error = new PyClass('Error', new Map(), []);
  return new NativeModule('oslo_config.cfg', attrs);
}

/** `from oslo_config import types`: type objects are only passed to MultiOpt. */
export function typesModule(): NativeModule {
  const attrs: Record<string, PyValue> = {};
  for (const t of ['String', 'Integer', 'Float', 'Boolean', 'List', 'Dict', 'Port', 'URI', 'HostAddress'])
    attrs[t] = native(t, () => new NativeModule(`types.${t}`, {}));
  return new NativeModule('oslo_config.types', attrs);
}

/**
 * Reads a kolla-build.conf: oslo's INI dialect (`[section]`, `key = value`, values continued on
 * indented lines, `#` and `;` comments, a key given twice keeps both values for MultiOpt).
 * Keys are normalized to the option's dest (dashes become underscores).
 */
export function parseIni(text: string, file: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | null = null;
  let lastKey: string | null = null;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/\s+$/, '');
    if (line.trim() === '' || /^\s*[#;]/.test(line)) {
      lastKey = null;
      return;
    }
    if (/^\s/.test(line) && section && lastKey) {
      const values = section.get(lastKey)!;
      values[values.length - 1] += `\n${line.trim()}`;
      return;
    }
    const header = /^\[([^\]]+)\]$/.exec(line.trim());
    if (header) {
      const name = header[1]!.trim();
      section = sections.get(name) ?? new Map();
      sections.set(name, section);
      lastKey = null;
      return;
    }
    const kv = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(line);
    if (!kv || !section) throw new Error(`${file}:${i + 1}: expected "[section]" or "key = value"`);
    const key = kv[1]!.trim().replaceAll('-', '_');
    const values = section.get(key) ?? [];
    values.push(kv[2]!);
    section.set(key, values);
    lastKey = key;
  });
  return sections;
}

export { tuple };
