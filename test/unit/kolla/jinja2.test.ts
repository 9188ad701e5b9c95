// The Jinja2 layer of arbor's templates (src/render/jinja2/): Jinja2 syntax and semantics that
// Nunjucks lacks, in any template, each case written as Jinja2 renders it.
import { describe, expect, it } from 'vitest';
import type { TemplateOptions } from '../../../src/config/model.js';
import { ArborError } from '../../../src/errors.js';
import { createRenderer } from '../../../src/render/render.js';
import { makeConfig, makeImage, makeTree } from '../render/fixture.js';

function render(
  template: string,
  variables: Record<string, unknown> = {},
  options?: Partial<TemplateOptions>,
  extra: Record<string, string> = {},
): string {
  const root = makeTree({ 'templates/t.j2': template, ...extra });
  const config = makeConfig(root, {
    variables,
    ...(options
      ? {
          templateOptions: {
            trimBlocks: true,
            lstripBlocks: true,
            keepTrailingNewline: true,
            strictUndefined: true,
            ...options,
          },
        }
      : {}),
  });
  return createRenderer(config).renderDockerfile(makeImage('x', { template: 't.j2' }), 'scratch');
}

describe('Jinja2 syntax', () => {
  it('trailing commas in list and dict literals and calls', () => {
    expect(render("{% set l = ['a', 'b',] %}{{ l | join(' ') }}")).toBe('a b');
    expect(render("{% set d = {'k': 1,} %}{{ d.k }}")).toBe('1');
    expect(render("{{ ['x', 'y'] | join(',',) }}")).toBe('x,y');
  });

  it('tuples are lists, and (a) is still a group', () => {
    expect(render("{% set t = ('a', 'b') %}{{ t | length }}{{ t[1] }}")).toBe('2b');
    expect(render("{% set t = ('a',) %}{{ t | length }}")).toBe('1');
    expect(render('{{ (1 + 2) * 3 }}')).toBe('9');
  });

  it('*args spread a list into a call or filter', () => {
    expect(render("{{ '%s-%s' | format(*parts) }}", { parts: ['a', 'b'] })).toBe('a-b');
    // Kolla's grafana: one format string repeated per plugin, then filled in.
    expect(
      render("{{ (['install %s'] * plugins | length) | join(' && ') | format(*plugins) }}", {
        plugins: ['p1', 'p2'],
      }),
    ).toBe('install p1 && install p2');
  });

  it("Python's True, False and None", () => {
    expect(
      render('{% if True and not False %}yes{% endif %}{% if x is none %}!{% endif %}', { x: null }),
    ).toBe('yes!');
  });

  it('refuses a loop filter instead of looping over nothing', () => {
    expect(() => render('{% for x in xs if x %}{{ x }}{% endfor %}', { xs: [1] })).toThrow(/loop filter/);
  });

  it('from-import inside an if binds a template variable seen after the if', () => {
    const out = render(
      '{% if true %}{% from "lib.j2" import pkgs %}{% endif %}{{ pkgs | join(",") }}',
      {},
      undefined,
      { 'templates/lib.j2': "{% set pkgs = ['a', 'b'] %}" },
    );
    expect(out).toBe('a,b');
  });
});

describe('Python semantics', () => {
  it('+ joins lists, numbers still add, strings concatenate', () => {
    expect(render("{% set l = ['a'] + ['b'] %}{{ l | length }}")).toBe('2');
    expect(render('{{ 1 + 2 }}{{ "a" + "b" }}')).toBe('3ab');
  });

  it('* repeats lists and strings', () => {
    expect(render("{{ (['x'] * 3) | join('') }}{{ 'ab' * 2 }}{{ 2 * 3 }}")).toBe('xxxabab6');
  });

  it('% formats strings, and is still the remainder of numbers', () => {
    expect(render("{{ '%s=%d' % ('a', 5) }} {{ '%05.1f' % 3.14159 }} {{ 7 % 3 }}")).toBe('a=5 003.1 1');
    expect(render("{{ '%(n)s!' % {'n': 'hi'} }}")).toBe('hi!');
  });

  it('== compares lists and mappings by content', () => {
    expect(render("{% if [1, 2] == [1, 2] and {'a': 1} == {'a': 1} %}eq{% endif %}")).toBe('eq');
    expect(render('{% if [1] != [2] %}ne{% endif %}')).toBe('ne');
  });

  it("values have Python's methods", () => {
    expect(
      render("{{ 'a,b'.split(',') | join('|') }} {{ 'x-y'.replace('-', '_') }} {{ 'Ab'.lower() }}"),
    ).toBe('a|b x_y ab');
    expect(render("{{ '  a  b '.split() | join('|') }} {{ 'abc'.startswith('ab') }}")).toBe('a|b true');
    expect(render("{% set l = [] %}{% set _ = l.append('z') %}{{ l[0] }}")).toBe('z');
    expect(render('{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}', { d: { a: 1, b: 2 } })).toBe(
      'a=1;b=2;',
    );
    expect(render("{{ '{}-{name}'.format(1, name='n') }}")).toBe('1-n');
    expect(render('{{ xs[-1] }}', { xs: [1, 2, 3] })).toBe('3');
  });
});

describe("Jinja2's filters and tests", () => {
  it('selectattr and rejectattr with a test and its argument, or the truth of the attribute', () => {
    const items = {
      items: [
        { n: 'a', v: 1 },
        { n: 'b', v: 2 },
        { n: 'c', v: 0 },
      ],
    };
    expect(render("{{ items | selectattr('v', 'gt', 1) | map(attribute='n') | join }}", items)).toBe('b');
    expect(render("{{ items | selectattr('v', '>=', 1) | map(attribute='n') | join }}", items)).toBe('ab');
    expect(render("{{ items | rejectattr('v', 'equalto', 1) | map(attribute='n') | join }}", items)).toBe(
      'bc',
    );
    expect(render("{{ items | selectattr('v') | map(attribute='n') | join }}", items)).toBe('ab');
    expect(render("{{ items | rejectattr('v') | map(attribute='n') | join }}", items)).toBe('c');
  });

  it('join of a string joins its characters', () => {
    expect(render("{{ 'abc' | reverse | join }}")).toBe('cba');
    expect(render("{{ 'abc' | join('-') }}")).toBe('a-b-c');
  });

  it('format, map, unique, min, max, items, tojson, count, attr', () => {
    expect(render("{{ 'v%s' | format(2) }}")).toBe('v2');
    expect(render("{{ ['a', 'B'] | map('upper') | join }}")).toBe('AB');
    expect(
      render("{{ users | map(attribute='name') | join(',') }}", { users: [{ name: 'a' }, { name: 'b' }] }),
    ).toBe('a,b');
    expect(render("{{ ['a', 'b', 'a'] | unique | join }}{{ [3, 1, 2] | min }}{{ [3, 1, 2] | max }}")).toBe(
      'ab13',
    );
    expect(
      render("{% for k, v in {'a': 1} | items %}{{ k }}{{ v }}{% endfor %}{{ {'a': '<'} | tojson }}"),
    ).toBe('a1{"a":"\\u003c"}');
    expect(render("{{ [1, 2] | count }}{{ d | attr('k') }}", { d: { k: 'v' } })).toBe('2v');
  });

  it('sequence, none, boolean, true, false, integer, float, in', () => {
    expect(render('{{ [1] is sequence }}{{ "s" is sequence }}{{ 5 is sequence }}')).toBe('truetruefalse');
    expect(
      render('{{ x is none }}{{ t is boolean }}{{ t is true }}{{ f is false }}', {
        x: null,
        t: true,
        f: false,
      }),
    ).toBe('truetruetruetrue');
    expect(render('{{ 2 is integer }}{{ 2.5 is float }}{{ 2 is in [1, 2] }}')).toBe('truetruetrue');
  });
});

describe('template_options', () => {
  it("trim_blocks and lstrip_blocks treat comments and endraw as Jinja2 does: a comment's own line leaves nothing", () => {
    const t = 'A\n{# c #}\nB\n   {# indented #}\nC {# inline #} D\n{% raw %}x{% endraw %}\nE\n';
    // What jinja2.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True) renders.
    expect(render(t, {}, { trimBlocks: true, lstripBlocks: true, keepTrailingNewline: true })).toBe(
      'A\nB\nC  D\nxE\n',
    );
    // And with Jinja2's defaults (kolla-build's), nothing is trimmed.
    expect(
      render('A\n{# c #}\nB\n', {}, { trimBlocks: false, lstripBlocks: false, keepTrailingNewline: true }),
    ).toBe('A\n\nB\n');
  });

  it('python_values prints values as Python does; without it, as before', () => {
    const t = '{{ a }} {{ b }} {{ n }} {{ l }} {{ d }} {{ s }} {{ 3 }} {{ x }}';
    const values = { a: true, b: false, n: null, l: [1, 'x'], d: { k: 'v' }, s: 'text' };
    expect(render(t, values, { pythonValues: true, strictUndefined: false })).toBe(
      "True False None [1, 'x'] {'k': 'v'} text 3 ",
    );
    expect(render('{{ a }} {{ l }}', values)).toBe('true 1,x');
    // A macro's output is text: printed as it is.
    expect(render('{% macro m() %}[{{ a }}]{% endmacro %}{{ m() }}', values, { pythonValues: true })).toBe(
      '[True]',
    );
  });

  const template = '{% if true %}\n  x\n{% endif %}\nend\n';

  it("arbor's defaults trim block lines and keep the final newline", () => {
    expect(render(template)).toBe('  x\nend\n');
  });

  it("Jinja2's defaults (kolla-build's) keep block lines and drop the final newline", () => {
    const jinja = { trimBlocks: false, lstripBlocks: false, keepTrailingNewline: false };
    expect(render(template, {}, jinja)).toBe('\n  x\n\nend');
    expect(render('a\r\nb\r\n', {}, jinja)).toBe('a\nb');
  });

  it('strict_undefined: an error naming the variable, or empty as in Jinja2', () => {
    expect(() => render('{{ missing }}')).toThrow(ArborError);
    expect(render('[{{ missing }}]', {}, { strictUndefined: false })).toBe('[]');
  });
});

describe('per-image variables', () => {
  it('are seen over the top-level variables of the same name', () => {
    const root = makeTree({ 'templates/t.j2': '{{ image_name }} {{ shared }}' });
    const config = makeConfig(root, { variables: { image_name: 'top', shared: 's' } });
    const image = makeImage('nova-api', { template: 't.j2', variables: { image_name: 'nova-api' } });
    expect(createRenderer(config).renderDockerfile(image, 'scratch')).toBe('nova-api s');
  });
});

describe('Jinja2 errors where JavaScript would go on', () => {
  it('{% set %} of an attribute, at its place', () => {
    expect(() => render('{% set ns = {} %}\n{% set ns.total = 1 %}')).toThrow(
      /2:\d+.*\{% set %\} of an attribute \(a namespace\(\) field\) is not supported/s,
    );
  });

  it('a block defined twice in one template', () => {
    expect(() => render('{% block a %}1{% endblock %}{% block a %}2{% endblock %}')).toThrow(
      "block 'a' defined twice",
    );
  });

  it('a number and a string do not add (TypeError), naming the image and template', () => {
    expect(() => render('FROM scratch\n{{ uid + "x" }}', { uid: 5000 })).toThrow(
      /image x: template t\.j2: unsupported operand type\(s\) for \+: 'int' and 'str'/,
    );
    expect(render('{{ "a" + "b" }}{{ 1 + 2 }}{{ [1] + [2] }}')).toBe('ab31,2');
  });

  it("range is Python's: a zero step and a range longer than the sandbox allows are errors", () => {
    expect(
      render('{{ range(3) | join(",") }} {{ range(1, 7, 2) | join(",") }} {{ range(3, 0, -1) | join(",") }}'),
    ).toBe('0,1,2 1,3,5 3,2,1');
    expect(() => render('{{ range(0, 5, 0) | list }}')).toThrow(/must not be zero/);
    expect(() => render('{{ range(10**9) | list | length }}')).toThrow(/more than 100000/);
  });
});
