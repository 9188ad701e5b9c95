// Python semantics on plain JavaScript values, shared by the Jinja2 template layer
// (src/render/jinja2/) and the Python interpreter (src/python/interpret.ts): `+` joins lists,
// `*` repeats lists and strings, `%` formats strings, equality compares lists and mappings by
// content, and values have Python's methods (`'a,b'.split(',')`, `list.append(x)`,
// `dict.items()`). Compiled templates call these helpers instead of the bare JavaScript
// operators (see render/jinja2/compiler.ts); plain numbers still add, multiply and take the
// remainder as before, so templates written for Nunjucks render the same.

/** A Jinja2 mapping: a plain object (not an array, not a Nunjucks SafeString or other class). */
export function isMapping(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** A string, or a Nunjucks SafeString (macro output, `| safe`). */
function isText(value: unknown): boolean {
  return typeof value === 'string' || (value instanceof Object && value.constructor?.name === 'SafeString');
}

/** `left + right`: lists are joined into a new list, everything else as JavaScript does. */
export function add(left: unknown, right: unknown): unknown {
  if (Array.isArray(left) && Array.isArray(right)) return [...left, ...right];
  // Python (and so Jinja2) refuses to add a number and a string; JavaScript would glue them.
  if ((typeof left === 'number' && isText(right)) || (isText(left) && typeof right === 'number'))
    throw new TypeError(
      `unsupported operand type(s) for +: '${typeof left === 'number' ? 'int' : 'str'}' and '${typeof right === 'number' ? 'int' : 'str'}'`,
    );
  return (left as number) + (right as number);
}

/** `left * right`: a list or string times a count repeats it, numbers multiply. */
export function multiply(left: unknown, right: unknown): unknown {
  if (typeof right === 'number' && (Array.isArray(left) || isText(left))) return repeat(left, right);
  if (typeof left === 'number' && (Array.isArray(right) || isText(right))) return repeat(right, left);
  return (left as number) * (right as number);
}

function repeat(sequence: unknown, count: number): unknown {
  const times = Math.max(0, Math.trunc(count));
  if (Array.isArray(sequence)) return Array.from({ length: times }, () => sequence).flat();
  return String(sequence).repeat(times);
}

/** `left % right`: a string on the left is a printf-style format (`'%s-%d' % (a, b)`). */
export function modulo(left: unknown, right: unknown): unknown {
  if (isText(left)) return percentFormat(String(left), Array.isArray(right) ? right : [right]);
  return (left as number) % (right as number);
}

const PERCENT_SPEC = /%(?:\(([^)]*)\))?([-+ #0]*)(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([diouxXeEfFgGcrsa%])/g;

/**
 * Python's `str % args`: `%s %r %d %i %f %x %o %e %g %c %%`, flags `-+ #0`, width and precision,
 * and `%(name)s` with a mapping as the only argument. Too few or too many arguments is an error,
 * as in Python.
 */
export function percentFormat(format: string, args: readonly unknown[]): string {
  const mapping = args.length === 1 && isMapping(args[0]) ? args[0] : undefined;
  let next = 0;
  const take = (): unknown => {
    if (next >= args.length) throw new Error(`not enough arguments for format string "${format}"`);
    return args[next++];
  };
  const out = format.replace(
    PERCENT_SPEC,
    (
      _m,
      key: string | undefined,
      flags: string,
      width: string | undefined,
      precision: string | undefined,
      conversion: string,
    ) => {
      if (conversion === '%') return '%';
      const w = width === '*' ? Number(take()) : width === undefined ? undefined : Number(width);
      const p = precision === '*' ? Number(take()) : precision === undefined ? undefined : Number(precision);
      let value: unknown;
      if (key !== undefined) {
        if (mapping === undefined) throw new Error(`format "${format}" requires a mapping`);
        if (!(key in mapping)) throw new Error(`format "${format}": no key "${key}"`);
        value = mapping[key];
      } else {
        value = take();
      }
      return pad(convert(value, conversion, flags, p), w, flags);
    },
  );
  if (mapping === undefined && next < args.length)
    throw new Error(`not all arguments converted during string formatting of "${format}"`);
  return out;
}

function convert(value: unknown, conversion: string, flags: string, precision: number | undefined): string {
  const sign = (n: number, text: string): string =>
    n >= 0 && flags.includes('+') ? `+${text}` : n >= 0 && flags.includes(' ') ? ` ${text}` : text;
  switch (conversion) {
    case 's':
    case 'a': {
      const text = pyStr(value);
      return precision === undefined ? text : text.slice(0, precision);
    }
    case 'r':
      return pyRepr(value);
    case 'c':
      return typeof value === 'number' ? String.fromCodePoint(value) : String(value);
    case 'd':
    case 'i':
    case 'u':
      return sign(Number(value), String(Math.trunc(Number(value))));
    case 'o':
      return sign(Number(value), (flags.includes('#') ? '0o' : '') + Math.trunc(Number(value)).toString(8));
    case 'x':
      return sign(Number(value), (flags.includes('#') ? '0x' : '') + Math.trunc(Number(value)).toString(16));
    case 'X':
      return sign(
        Number(value),
        (flags.includes('#') ? '0X' : '') + Math.trunc(Number(value)).toString(16).toUpperCase(),
      );
    case 'e':
    case 'E': {
      const text = Number(value)
        .toExponential(precision ?? 6)
        .replace(/e([+-])(\d)$/, 'e$10$2');
      return sign(Number(value), conversion === 'E' ? text.toUpperCase() : text);
    }
    case 'f':
    case 'F':
      return sign(Number(value), Number(value).toFixed(precision ?? 6));
    default: {
      // g, G
      const text = String(Number(Number(value).toPrecision(precision === 0 ? 1 : (precision ?? 6))));
      return sign(Number(value), conversion === 'G' ? text.toUpperCase() : text);
    }
  }
}

function pad(text: string, width: number | undefined, flags: string): string {
  if (width === undefined || text.length >= width) return text;
  if (flags.includes('-')) return text.padEnd(width);
  if (flags.includes('0') && /^[+ -]?\d/.test(text)) {
    const signChar = /^[+ -]/.test(text) ? text[0]! : '';
    return signChar + text.slice(signChar.length).padStart(width - signChar.length, '0');
  }
  return text.padStart(width);
}

/** Python's `str(value)` for the values templates hold. */
export function pyStr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (Array.isArray(value) || isMapping(value)) return pyRepr(value);
  return String(value);
}

/** Python's `repr(value)`. */
export function pyRepr(value: unknown): string {
  if (typeof value === 'string') {
    const quote = value.includes("'") && !value.includes('"') ? '"' : "'";
    const body = value
      .replaceAll('\\', '\\\\')
      .replaceAll('\n', '\\n')
      .replaceAll('\r', '\\r')
      .replaceAll('\t', '\\t');
    return quote + (quote === "'" ? body.replaceAll("'", "\\'") : body) + quote;
  }
  if (Array.isArray(value)) return `[${value.map(pyRepr).join(', ')}]`;
  if (isMapping(value))
    return `{${Object.entries(value)
      .map(([k, v]) => `${pyRepr(k)}: ${pyRepr(v)}`)
      .join(', ')}}`;
  return pyStr(value);
}

/** Python's `str.format`: `{}`, `{0}`, `{name}`, `{{`/`}}`, and the format spec of each field. */
export function strFormat(format: string, args: readonly unknown[], kwargs: Record<string, unknown>): string {
  let auto = 0;
  return format.replace(
    /\{\{|\}\}|\{([^{}!:]*)(?:![rsa])?(?::([^{}]*))?\}/g,
    (match, field: string, spec) => {
      if (match === '{{') return '{';
      if (match === '}}') return '}';
      const [head, ...path] = field.split('.');
      let value: unknown;
      if (head === '') value = args[auto++];
      else if (/^\d+$/.test(head!)) value = args[Number(head)];
      else value = kwargs[head!];
      for (const part of path) value = (value as Record<string, unknown>)?.[part];
      if (value === undefined) throw new Error(`format string "${format}": no value for {${field}}`);
      return spec ? formatSpec(value, spec) : pyStr(value);
    },
  );
}

/** The format spec mini-language, enough for `{:>10}`, `{:05d}`, `{:.2f}`. */
function formatSpec(value: unknown, spec: string): string {
  const m = /^(?:(.)?([<>^=]))?([-+ ])?(#)?(0)?(\d+)?(,)?(?:\.(\d+))?([bcdeEfFgGnosxX%])?$/.exec(spec);
  if (!m) throw new Error(`invalid format spec "${spec}"`);
  const [, fill = ' ', align, signFlag, , zero, width, , precision, type] = m;
  let text: string;
  if (type === undefined || type === 's') text = pyStr(value);
  else if (type === '%')
    text = `${(Number(value) * 100).toFixed(precision === undefined ? 6 : Number(precision))}%`;
  else if (type === 'b') text = Math.trunc(Number(value)).toString(2);
  else
    text = convert(
      value,
      type === 'n' ? 'd' : type,
      signFlag ?? '',
      precision === undefined ? undefined : Number(precision),
    );
  if (type === undefined && precision !== undefined && typeof value !== 'number')
    text = text.slice(0, Number(precision));
  const w = width === undefined ? 0 : Number(width);
  if (text.length >= w) return text;
  const defaultAlign = typeof value === 'number' ? '>' : '<';
  const how = align ?? (zero ? '=' : defaultAlign);
  const padChar = align === undefined && zero ? '0' : fill;
  const gap = w - text.length;
  if (how === '<') return text + padChar.repeat(gap);
  if (how === '^') return padChar.repeat(Math.floor(gap / 2)) + text + padChar.repeat(Math.ceil(gap / 2));
  if (how === '=' && /^[+ -]/.test(text)) return text[0] + padChar.repeat(gap) + text.slice(1);
  return padChar.repeat(gap) + text;
}

function splitWhitespace(text: string, limit: number): string[] {
  const parts: string[] = [];
  let rest = text.replace(/^\s+/, '');
  while (rest !== '') {
    const m = /\s+/.exec(rest);
    if ((limit >= 0 && parts.length === limit) || !m) {
      parts.push(rest);
      break;
    }
    parts.push(rest.slice(0, m.index));
    rest = rest.slice(m.index + m[0].length);
  }
  return parts;
}

function split(text: string, sep?: string | null, maxsplit = -1): string[] {
  if (sep === undefined || sep === null) return splitWhitespace(text, maxsplit);
  if (sep === '') throw new Error('empty separator');
  const parts = text.split(sep);
  if (maxsplit < 0 || parts.length <= maxsplit + 1) return parts;
  return [...parts.slice(0, maxsplit), parts.slice(maxsplit).join(sep)];
}

function stripChars(text: string, chars: string | undefined | null, side: 'both' | 'left' | 'right'): string {
  const set = chars === undefined || chars === null ? null : new Set(chars);
  const strip = (c: string) => (set === null ? /\s/.test(c) : set.has(c));
  let start = 0;
  let end = text.length;
  if (side !== 'right') while (start < end && strip(text[start]!)) start++;
  if (side !== 'left') while (end > start && strip(text[end - 1]!)) end--;
  return text.slice(start, end);
}

function kwargsOf(args: unknown[]): [unknown[], Record<string, unknown>] {
  const last = args[args.length - 1] as { __keywords?: boolean } | undefined;
  if (last && typeof last === 'object' && last.__keywords) {
    const { __keywords: _, ...kwargs } = last as Record<string, unknown>;
    return [args.slice(0, -1), kwargs];
  }
  return [args, {}];
}

const STRING_METHODS: Record<string, (self: string, ...args: unknown[]) => unknown> = {
  startswith: (s, prefix, start?) => {
    const from = typeof start === 'number' ? s.slice(start) : s;
    return Array.isArray(prefix)
      ? prefix.some((p) => from.startsWith(String(p)))
      : from.startsWith(String(prefix));
  },
  endswith: (s, suffix) =>
    Array.isArray(suffix) ? suffix.some((p) => s.endsWith(String(p))) : s.endsWith(String(suffix)),
  split: (s, sep?, maxsplit?) => split(s, sep as string | undefined, (maxsplit as number | undefined) ?? -1),
  rsplit: (s, sep?, maxsplit?) => {
    const limit = (maxsplit as number | undefined) ?? -1;
    if (limit < 0) return split(s, sep as string | undefined);
    const reversed = split(
      [...s].reverse().join(''),
      sep === undefined || sep === null ? sep : [...String(sep)].reverse().join(''),
      limit,
    );
    return reversed.map((p) => [...p].reverse().join('')).reverse();
  },
  splitlines: (s) => s.split(/\r\n|\r|\n/).filter((line, i, all) => i < all.length - 1 || line !== ''),
  strip: (s, chars?) => stripChars(s, chars as string | undefined, 'both'),
  lstrip: (s, chars?) => stripChars(s, chars as string | undefined, 'left'),
  rstrip: (s, chars?) => stripChars(s, chars as string | undefined, 'right'),
  lower: (s) => s.toLowerCase(),
  upper: (s) => s.toUpperCase(),
  title: (s) => s.replace(/[A-Za-z]+/g, (w) => w[0]!.toUpperCase() + w.slice(1).toLowerCase()),
  capitalize: (s) => (s === '' ? s : s[0]!.toUpperCase() + s.slice(1).toLowerCase()),
  replace: (s, old, replacement, count?) => {
    const parts = s.split(String(old));
    const n = typeof count === 'number' && count >= 0 ? count : parts.length - 1;
    return (
      parts.slice(0, n + 1).join(String(replacement)) +
      (n + 1 < parts.length ? String(old) + parts.slice(n + 1).join(String(old)) : '')
    );
  },
  find: (s, sub) => s.indexOf(String(sub)),
  rfind: (s, sub) => s.lastIndexOf(String(sub)),
  index: (s, sub) => {
    const at = s.indexOf(String(sub));
    if (at < 0) throw new Error(`substring "${String(sub)}" not found`);
    return at;
  },
  count: (s, sub) => (String(sub) === '' ? s.length + 1 : s.split(String(sub)).length - 1),
  join: (s, items) => (items as unknown[]).map((i) => pyStr(i)).join(s),
  format: (s, ...args) => {
    const [positional, kwargs] = kwargsOf(args);
    return strFormat(s, positional, kwargs);
  },
  isdigit: (s) => /^\d+$/.test(s),
  isalpha: (s) => /^[A-Za-z]+$/.test(s),
  isalnum: (s) => /^[A-Za-z0-9]+$/.test(s),
  islower: (s) => /[a-z]/.test(s) && s === s.toLowerCase(),
  isupper: (s) => /[A-Z]/.test(s) && s === s.toUpperCase(),
  zfill: (s, width) => {
    const signChar = /^[+-]/.test(s) ? s[0]! : '';
    return signChar + s.slice(signChar.length).padStart(Number(width) - signChar.length, '0');
  },
  ljust: (s, width, fill = ' ') => s.padEnd(Number(width), String(fill)),
  rjust: (s, width, fill = ' ') => s.padStart(Number(width), String(fill)),
  center: (s, width, fill = ' ') => {
    const gap = Math.max(0, Number(width) - s.length);
    const left = Math.floor(gap / 2) + (gap % 2 && s.length % 2 ? 1 : 0);
    return String(fill).repeat(left) + s + String(fill).repeat(gap - left);
  },
  removeprefix: (s, prefix) => (s.startsWith(String(prefix)) ? s.slice(String(prefix).length) : s),
  removesuffix: (s, suffix) =>
    String(suffix) !== '' && s.endsWith(String(suffix)) ? s.slice(0, -String(suffix).length) : s,
};

function indexOfEqual(list: unknown[], value: unknown): number {
  return list.findIndex((item) => pyEquals(item, value));
}

const LIST_METHODS: Record<string, (self: unknown[], ...args: unknown[]) => unknown> = {
  append: (l, value) => {
    l.push(value);
    return null;
  },
  extend: (l, values) => {
    l.push(...(values as unknown[]));
    return null;
  },
  insert: (l, at, value) => {
    l.splice(Number(at) < 0 ? Math.max(0, l.length + Number(at)) : Number(at), 0, value);
    return null;
  },
  remove: (l, value) => {
    const at = indexOfEqual(l, value);
    if (at < 0) throw new Error(`list.remove(x): ${pyRepr(value)} not in list`);
    l.splice(at, 1);
    return null;
  },
  pop: (l, at?) => {
    if (l.length === 0) throw new Error('pop from empty list');
    const i = at === undefined ? l.length - 1 : Number(at) < 0 ? l.length + Number(at) : Number(at);
    return l.splice(i, 1)[0];
  },
  index: (l, value) => {
    const at = indexOfEqual(l, value);
    if (at < 0) throw new Error(`${pyRepr(value)} is not in list`);
    return at;
  },
  count: (l, value) => l.filter((item) => pyEquals(item, value)).length,
  copy: (l) => [...l],
  clear: (l) => {
    l.length = 0;
    return null;
  },
};

const DICT_METHODS: Record<string, (self: Record<string, unknown>, ...args: unknown[]) => unknown> = {
  items: (d) => Object.entries(d),
  keys: (d) => Object.keys(d),
  values: (d) => Object.values(d),
  get: (d, key, fallback = null) => (Object.hasOwn(d, String(key)) ? d[String(key)] : fallback),
  update: (d, ...args) => {
    const [positional, kwargs] = kwargsOf(args);
    for (const other of positional) Object.assign(d, other);
    Object.assign(d, kwargs);
    return null;
  },
  setdefault: (d, key, fallback = null) => {
    if (!Object.hasOwn(d, String(key))) d[String(key)] = fallback;
    return d[String(key)];
  },
  pop: (d, key, ...fallback) => {
    if (Object.hasOwn(d, String(key))) {
      const value = d[String(key)];
      delete d[String(key)];
      return value;
    }
    if (fallback.length > 0) return fallback[0];
    throw new Error(`KeyError: ${pyRepr(key)}`);
  },
  copy: (d) => ({ ...d }),
};

/** Python equality for the values templates hold: lists and mappings compare by content. */
export function pyEquals(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => pyEquals(x, b[i]));
  if (isMapping(a) && isMapping(b)) {
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && pyEquals(a[k], b[k]))
    );
  }
  // biome-ignore lint/suspicious/noDoubleEquals: Nunjucks compares with `==`; keep its coercions for scalars.
  return a == b;
}

/**
 * `obj.key` / `obj[key]`: a mapping's own entries first, then Python's methods of str, list and
 * dict (`.startswith`, `.append`, `.items`, …), then whatever Nunjucks would find (JavaScript
 * methods bound to the object, properties).
 */
export function member(obj: unknown, key: unknown): unknown {
  if (obj === undefined || obj === null) return undefined;
  if (typeof key === 'string') {
    if (typeof obj === 'string' && Object.hasOwn(STRING_METHODS, key)) return bind(STRING_METHODS[key]!, obj);
    if (Array.isArray(obj) && Object.hasOwn(LIST_METHODS, key)) return bind(LIST_METHODS[key]!, obj);
    if (isMapping(obj) && !Object.hasOwn(obj, key) && Object.hasOwn(DICT_METHODS, key))
      return bind(DICT_METHODS[key]!, obj);
  }
  if (typeof key === 'number' && key < 0 && (Array.isArray(obj) || typeof obj === 'string'))
    return (obj as ArrayLike<unknown>)[obj.length + key];
  const value = (obj as Record<string, unknown>)[key as string];
  if (typeof value === 'function')
    return (...args: unknown[]) => (value as (...a: unknown[]) => unknown).apply(obj, args);
  return value;
}

function bind<T>(method: (self: T, ...args: unknown[]) => unknown, self: T): (...args: unknown[]) => unknown {
  return (...args) => method(self, ...args);
}

/**
 * A function callable from templates the way Python calls it: positional arguments, then
 * keyword arguments by parameter name (`f(x, clean=False)`); a parameter given neither way gets
 * the function's own default.
 */
export function withSignature<T>(
  name: string,
  params: readonly string[],
  fn: (this: T, ...args: unknown[]) => unknown,
): (this: T, ...args: unknown[]) => unknown {
  return function (this: T, ...raw: unknown[]) {
    const [positional, kwargs] = kwargsOf(raw);
    if (positional.length > params.length)
      throw new Error(`${name}() takes at most ${params.length} arguments (${positional.length} given)`);
    const args: unknown[] = [...positional];
    for (const [key, value] of Object.entries(kwargs)) {
      const at = params.indexOf(key);
      if (at < 0) throw new Error(`${name}() got an unexpected keyword argument '${key}'`);
      if (at < positional.length) throw new Error(`${name}() got multiple values for argument '${key}'`);
      args[at] = value;
    }
    return fn.apply(this, args);
  };
}
