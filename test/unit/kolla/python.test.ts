// arbor's interpreter for Python's common subset (src/python/), which reads Kolla's defaults from
// its code, and the oslo.config emulation it runs them with (src/kolla/python/oslo.ts).
import { describe, expect, it } from 'vitest';
import { ConfigOpts, cfgModule, parseIni } from '../../../src/kolla/python/oslo.js';
import { Interpreter, native } from '../../../src/python/interpret.js';
import { parseModule } from '../../../src/python/parse.js';
import { builtinScope, NativeModule, opaqueModule, osModule, reModule } from '../../../src/python/stdlib.js';
import { PythonSyntaxError } from '../../../src/python/tokenize.js';
import { isUnknown, PyClass, type PyValue, toPlain } from '../../../src/python/values.js';

function run(source: string, modules: Record<string, PyValue> = {}) {
  let interp!: Interpreter;
  const builtins = builtinScope(() => interp);
  interp = new Interpreter(builtins, (name) => {
    if (name in modules) return modules[name]!;
    if (name === 'os') return osModule('x86_64');
    if (name === 're') return reModule();
    return opaqueModule(name);
  });
  const scope = interp.runModule(parseModule(source));
  return {
    get: (name: string) => scope.vars.get(name),
    plain: (name: string) => toPlain(scope.vars.get(name)!),
    interp,
    builtins,
  };
}

describe('parsing', () => {
  it('strings of every kind, implicit joins, f-strings with specs, continuations', () => {
    const m = run(
      [
        "A = ('$base/'",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Python and oslo.config text, not a JS template
        "     'x-${v}.tar.gz')",
        "B = r'\\d+' + \"\\t\" + '''tri",
        "ple'''",
        'n = 5',
        'C = f\'{n:03d}-{"q"!r}-{n * 2}\'',
        'D = 1 + \\',
        '    2',
      ].join('\n'),
    );
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Python and oslo.config text, not a JS template
    expect(m.get('A')).toBe('$base/x-${v}.tar.gz');
    expect(m.get('B')).toBe('\\d+\ttri\nple');
    expect(m.get('C')).toBe("005-'q'-10");
    expect(m.get('D')).toBe(3);
  });

  it('a syntax error has a line and column', () => {
    expect(() => parseModule('x = (1,\ny = 2\n')).toThrow(PythonSyntaxError);
    try {
      parseModule('def f(:\n  pass\n');
    } catch (err) {
      expect((err as PythonSyntaxError).line).toBe(1);
    }
  });
});

describe('evaluation', () => {
  it('comprehensions, lambdas, generators, % and str.format, slices, sorted with key', () => {
    const m = run(
      [
        'def gen(xs):',
        '    for x in xs:',
        '        if x % 2:',
        '            yield x, x * x',
        'pairs = dict(gen(range(6)))',
        "names = sorted(['b-user', 'a-user', 'c'], key=lambda s: s[::-1])",
        "users = {n[:-5]: i for i, n in enumerate(names) if n.endswith('-user')}",
        "fmt = '%s/%03d' % ('a', 7) + ' {}{name}'.format(1, name='x')",
        'total = sum([v for v in pairs.values()])',
      ].join('\n'),
    );
    expect(m.plain('pairs')).toEqual({ 1: 1, 3: 9, 5: 25 });
    // Sorted by the reversed name: 'c' < 'resu-a' < 'resu-b'.
    expect(m.plain('names')).toEqual(['c', 'a-user', 'b-user']);
    expect(m.plain('users')).toEqual({ a: 1, b: 2 });
    expect(m.get('fmt')).toBe('a/007 1x');
    expect(m.get('total')).toBe(35);
  });

  it('classes, methods, decorators, enums, exceptions and a bare raise', () => {
    const m = run(
      [
        'from enum import Enum',
        'class Engine(Enum):',
        "    DOCKER = 'docker'",
        'def twice(f):',
        '    return lambda x: f(f(x))',
        '@twice',
        'def inc(x):',
        '    return x + 1',
        'class Worker(object):',
        '    def __init__(self, base):',
        '        self.base = base',
        "        if base in ['centos', 'rocky']:",
        "            self.pm = 'dnf'",
        '        else:',
        "            self.pm = 'apt'",
        '    def describe(self):',
        "        return '%s:%s' % (self.base, self.pm)",
        "w = Worker('rocky')",
        'd = w.describe()',
        'try:',
        '    try:',
        "        {}['missing']",
        '    except KeyError:',
        '        raise',
        'except LookupError as e:',
        "    caught = 'lookup'",
        'e2 = inc(1)',
      ].join('\n'),
      { enum: new NativeModule('enum', { Enum: new PyClass('Enum', new Map(), []) }) },
    );
    expect(m.get('d')).toBe('rocky:dnf');
    expect(m.get('caught')).toBe('lookup');
    expect(m.get('e2')).toBe(3);
    expect(m.interp.getattr(m.interp.getattr(m.get('Engine')!, 'DOCKER'), 'value')).toBe('docker');
  });

  it('what depends on the machine is unknown, and so is everything an unknown condition decides', () => {
    const m = run(
      [
        'import os',
        'arch = os.uname()[4]',
        "if os.path.exists('/etc/x'):",
        '    where = 1',
        'else:',
        '    where = 2',
        'kept = 3',
        "joined = os.path.join('a', 'b')",
      ].join('\n'),
    );
    expect(m.get('arch')).toBe('x86_64');
    expect(isUnknown(m.get('where'))).toBe(true);
    expect(m.get('kept')).toBe(3);
    expect(m.get('joined')).toBe('a/b');
  });

  it('re.search and match groups', () => {
    const m = run(
      "import re\nm = re.search('^.*-user$', 'nova-user')\ng = m.group(0)[:-5]\nn = re.search('^.*-user$', 'nova')",
    );
    expect(m.get('g')).toBe('nova');
    expect(m.get('n')).toBe(null);
  });
});

describe('oslo.config emulation', () => {
  function conf(ini = '') {
    const m = run('x = 1');
    const attributeError = m.builtins.vars.get('AttributeError') as PyClass;
    const c = new ConfigOpts({ file: parseIni(ini, 'kolla-build.conf') }, attributeError);
    const cfg = cfgModule(() => c);
    const call = (name: string, ...args: PyValue[]) => m.interp.callValue(cfg.getattr(name)!, args, {});
    return {
      c,
      m,
      cfg,
      call,
      kw: (name: string, args: PyValue[], kwargs: Record<string, PyValue>) =>
        m.interp.callValue(cfg.getattr(name)!, args, kwargs),
    };
  }

  it('a string option with choices takes only those (given as values or (value, description) pairs)', () => {
    const { c, kw } = conf('[DEFAULT]\nbase = arch\nbase-arch = aarch64\n');
    c.register(
      [
        kw('StrOpt', ['base'], { default: 'rocky', choices: ['centos', 'debian', 'rocky', 'ubuntu'] }),
        kw('StrOpt', ['base-arch'], {
          default: 'x86_64',
          choices: [
            ['x86_64', 'Intel'],
            ['aarch64', 'ARM'],
          ],
        }),
      ],
      null,
    );
    expect(c.value('DEFAULT', 'base_arch')).toBe('aarch64');
    expect(() => c.value('DEFAULT', 'base')).toThrow(
      'option base: "arch" is not one of centos, debian, rocky, ubuntu',
    );
  });

  it("an option with dest= (Kolla up to Zed: --type, conf.install_type) reads the file's dest key and the command line's name", () => {
    const fileOnly = conf('[DEFAULT]\ninstall_type = source\n');
    const opt = fileOnly.kw('StrOpt', ['type'], { short: 't', default: 'binary', dest: 'install_type' });
    fileOnly.c.register([opt], null);
    expect(fileOnly.c.value('DEFAULT', 'install_type')).toBe('source');
    expect(fileOnly.c.knows('DEFAULT', 'type')).toBe(true);
    expect(fileOnly.c.knows('DEFAULT', 'install_type')).toBe(true);
    expect(fileOnly.c.knows('DEFAULT', 'tpye')).toBe(false);
    // `-o type=…` is appended to DEFAULT under the option's name, after the file: it wins.
    const both = conf('[DEFAULT]\ninstall_type = source\ntype = binary\n');
    both.c.register([both.kw('StrOpt', ['type'], { default: 'binary', dest: 'install_type' })], null);
    expect(both.c.value('DEFAULT', 'install_type')).toBe('binary');
    expect(() => both.c.value('DEFAULT', 'type')).toThrow('no such option type');
  });

  it('defaults, set_default, the config file and overrides, in oslo order', () => {
    const { c, kw } = conf('[DEFAULT]\nbase = debian\nthreads = 4\npush = yes\nallowed-to-fail = a, b\n');
    c.register(
      [
        kw('StrOpt', ['base'], { default: 'rocky' }),
        kw('StrOpt', ['base-tag'], { default: 'latest' }),
        kw('IntOpt', ['threads'], { default: 8 }),
        kw('BoolOpt', ['push'], { default: false }),
        kw('ListOpt', ['allowed-to-fail'], { default: [] }),
      ],
      null,
    );
    expect(c.value('DEFAULT', 'base')).toBe('debian');
    expect(c.value('DEFAULT', 'threads')).toBe(4);
    expect(c.value('DEFAULT', 'push')).toBe(true);
    expect(c.value('DEFAULT', 'allowed_to_fail')).toEqual(['a', 'b']);
    expect(c.value('DEFAULT', 'base_tag')).toBe('latest');
    (c.getattr('set_default') as { fn: (a: PyValue[], k: object) => PyValue }).fn(['base_tag', '10'], {});
    expect(c.value('DEFAULT', 'base_tag')).toBe('10');
    (c.getattr('set_default') as { fn: (a: PyValue[], k: object) => PyValue }).fn(['base', 'centos'], {});
    expect(c.value('DEFAULT', 'base')).toBe('debian');
    (c.getattr('set_override') as { fn: (a: PyValue[], k: object) => PyValue }).fn(['base', 'ubuntu'], {});
    expect(c.value('DEFAULT', 'base')).toBe('ubuntu');
  });

  // biome-ignore lint/suspicious/noTemplateCurlyInString: Python and oslo.config text, not a JS template
  it('$name and ${group.name} substitution, from the group then DEFAULT', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Python and oslo.config text, not a JS template
    const { c, kw } = conf('[nova-base]\nlocation = $tarballs_base/nova-${openstack_branch}.tar.gz\n');
    c.register(
      [
        kw('StrOpt', ['tarballs-base'], { default: 'https://t.example.org' }),
        kw('StrOpt', ['openstack-branch'], { default: 'master' }),
      ],
      null,
    );
    c.register(
      [kw('StrOpt', ['location'], { default: null }), kw('StrOpt', ['version'], { default: '1.2' })],
      'nova-base',
    );
    expect(c.value('nova-base', 'location')).toBe('https://t.example.org/nova-master.tar.gz');
  });

  it('parseIni: sections, comments, continued values, repeated keys', () => {
    const ini = parseIni('# c\n[DEFAULT]\nregex = a\nregex = b\nhelp = one\n  two\n[x-user]\nuid: 5\n', 'f');
    expect(ini.get('DEFAULT')!.get('regex')).toEqual(['a', 'b']);
    expect(ini.get('DEFAULT')!.get('help')).toEqual(['one\ntwo']);
    expect(ini.get('x-user')!.get('uid')).toEqual(['5']);
    expect(() => parseIni('key = value\n', 'f')).toThrow(/f:1: expected/);
  });

  it('native() functions take positional and keyword arguments', () => {
    const f = native('f', (args, kw) => `${args.length}:${Object.keys(kw).join(',')}`);
    expect(f.fn([1, 2], { a: 1 })).toBe('2:a');
  });
});
