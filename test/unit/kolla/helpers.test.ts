// Kolla's template helpers as arbor implements them (src/render/helpers/kolla-methods.ts), and
// the same helpers run as Python from a file (template_helpers, src/render/helpers/python-helpers.ts):
// both must give what kolla/template/methods.py and filters.py give.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../../src/config/model.js';
import { ArborError } from '../../../src/errors.js';
import { debianPackageInstall } from '../../../src/render/helpers/kolla-methods.js';
import { createRenderer, loadPythonHelpers } from '../../../src/render/render.js';

// template_helpers need the Python interpreter loaded, as plan and import-kolla do first.
beforeAll(() => loadPythonHelpers());

import { makeConfig, makeImage, makeTree } from '../render/fixture.js';

const REPOS = `
rpm:
  epel:
    gpgkey: "https://example.org/epel.key"
    metalink: "https://example.org/metalink?repo=epel"
    name: "epel"
  erlang:
    baseurl: |
      https://one.example.org/el/$basearch
      https://two.example.org/el/$basearch
    gpgkey: |
      https://example.org/a.key
      https://example.org/b.key
    gpgcheck: 1
    name: "rabbitmq_erlang"
  crb:
    distro: True
    name: "crb"
rocky:
  crb:
    file_group: "rocky.repo"
deb:
  grafana:
    url: "https://apt.example.org"
    suite: "stable"
    component: "main"
    gpg_key: "grafana.asc"
ubuntu:
  uca:
    url: "http://uca.example.org/ubuntu"
    suite: "noble-updates/{openstack_release_codename}"
    component: "main"
    gpg_key: "/usr/share/keyrings/uca.gpg"
    trusted: yes
    arch: "amd64"
`;

const BASES = {
  rocky: { base_package_type: 'rpm', base_distro: 'rocky', base_arch: 'x86_64' },
  ubuntu: {
    base_package_type: 'deb',
    base_distro: 'ubuntu',
    base_arch: 'x86_64',
    openstack_release_codename: 'Gazpacho',
  },
};

function render(
  template: string,
  variables: Record<string, unknown>,
  fields: Partial<Config> = {},
  files: Record<string, string> = {},
) {
  const root = makeTree({ 'templates/t.j2': template, 'templates/repos.yaml': REPOS, ...files });
  const config = makeConfig(root, {
    variables: { repos_yaml: '', image_name: 'nova-api', ...variables },
    ...fields,
  });
  return createRenderer(config).renderDockerfile(makeImage('nova-api', { template: 't.j2' }), 'scratch');
}

const KOLLA_TEMPLATE = fileURLToPath(
  new URL('../../../../shared/kolla/source/kolla/template/', import.meta.url),
);

describe.each([
  ['built in', {} as Partial<Config>, {} as Record<string, string>],
  [
    "Kolla's own Python (template_helpers)",
    {
      templateHelpers: {
        globals: {
          handle_repos: 'kolla/methods.py',
          debian_package_install: 'kolla/methods.py',
          raise_error: 'kolla/methods.py',
        },
        filters: { customizable: 'kolla/filters.py' },
      },
    },
    {
      'templates/kolla/methods.py': readFileSync(`${KOLLA_TEMPLATE}/methods.py`, 'utf8'),
      'templates/kolla/filters.py': readFileSync(`${KOLLA_TEMPLATE}/filters.py`, 'utf8'),
      'templates/kolla/repos.yaml': REPOS,
    },
  ],
])('Kolla helpers, %s', (_name, fields, files) => {
  it('handle_repos on rpm: a repo file per repository, several keys and URLs, distro repos enabled', () => {
    expect(
      render("{{ handle_repos(['epel', 'erlang', 'crb'], 'enable') }}", BASES.rocky, fields, files),
    ).toBe(
      'RUN ' +
        "grep -rlF '[epel]' /etc/yum.repos.d/ 2>/dev/null | xargs -r rm -f && echo '[epel]' >/etc/yum.repos.d/epel.repo && echo 'name=epel' >>/etc/yum.repos.d/epel.repo && echo 'enabled=1' >>/etc/yum.repos.d/epel.repo && echo 'gpgkey=https://example.org/epel.key' >>/etc/yum.repos.d/epel.repo && echo 'metalink=https://example.org/metalink?repo=epel' >>/etc/yum.repos.d/epel.repo && " +
        "grep -rlF '[rabbitmq_erlang]' /etc/yum.repos.d/ 2>/dev/null | xargs -r rm -f && echo '[rabbitmq_erlang]' >/etc/yum.repos.d/erlang.repo && echo 'name=rabbitmq_erlang' >>/etc/yum.repos.d/erlang.repo && echo 'enabled=1' >>/etc/yum.repos.d/erlang.repo && echo 'gpgcheck=1' >>/etc/yum.repos.d/erlang.repo && echo 'gpgkey=https://example.org/a.key' >>/etc/yum.repos.d/erlang.repo && echo '       https://example.org/b.key' >>/etc/yum.repos.d/erlang.repo && echo 'baseurl=https://one.example.org/el/$basearch' >>/etc/yum.repos.d/erlang.repo && echo 'baseurl=https://two.example.org/el/$basearch' >>/etc/yum.repos.d/erlang.repo && " +
        'dnf config-manager --enable crb || true',
    );
    expect(render("{{ handle_repos(['crb', 'epel'], 'disable') }}", BASES.rocky, fields, files)).toBe(
      'RUN dnf config-manager --disable crb || true',
    );
  });

  it('handle_repos on deb: sources files, the release codename, trusted and architecture', () => {
    expect(render("{{ handle_repos(['uca', 'grafana'], 'enable') }}", BASES.ubuntu, fields, files)).toBe(
      "RUN echo 'Uris: http://uca.example.org/ubuntu' >/etc/apt/sources.list.d/uca.sources && echo 'Components: main' >>/etc/apt/sources.list.d/uca.sources && echo 'Types: deb' >>/etc/apt/sources.list.d/uca.sources && echo 'Suites: noble-updates/gazpacho' >>/etc/apt/sources.list.d/uca.sources && echo 'Signed-By: /usr/share/keyrings/uca.gpg' >>/etc/apt/sources.list.d/uca.sources && echo 'Trusted: yes' >>/etc/apt/sources.list.d/uca.sources && echo 'Architectures: amd64' >>/etc/apt/sources.list.d/uca.sources && " +
        "echo 'Uris: https://apt.example.org' >/etc/apt/sources.list.d/grafana.sources && echo 'Components: main' >>/etc/apt/sources.list.d/grafana.sources && echo 'Types: deb' >>/etc/apt/sources.list.d/grafana.sources && echo 'Suites: stable' >>/etc/apt/sources.list.d/grafana.sources && echo 'Signed-By: /etc/kolla/apt-keys/grafana.asc' >>/etc/apt/sources.list.d/grafana.sources",
    );
  });

  it('handle_repos: an unknown repository is an error', () => {
    expect(() => render("{{ handle_repos(['nope'], 'enable') }}", BASES.rocky, fields, files)).toThrow(
      ArborError,
    );
  });

  it('debian_package_install: packages, then .deb URLs', () => {
    expect(
      render(
        "{{ debian_package_install(['a', 'https://x.example.org/p/b.deb', 'c'], False) }}",
        BASES.ubuntu,
        fields,
        files,
      ),
    ).toBe(
      'apt-get --error-on=any update && apt-get -y install --no-install-recommends a c && curl --location https://x.example.org/p/b.deb -o b.deb && dpkg -i b.deb && rm -rf b.deb',
    );
  });

  it('customizable: append, remove and override from variables named after the image', () => {
    const t = "{{ ['a', 'b'] | customizable('packages') | join(' ') }}";
    expect(
      render(t, { nova_api_packages_append: ['c'], nova_api_packages_remove: ['a'] }, fields, files),
    ).toBe('b c');
    expect(render(t, { nova_api_packages_override: ['z'] }, fields, files)).toBe('z');
    expect(render(t, {}, fields, files)).toBe('a b');
  });

  it('raise_error fails the render with its message', () => {
    expect(() => render("{{ raise_error('no user x') }}", BASES.rocky, fields, files)).toThrow(/no user x/);
  });
});

describe('built-in helpers called the Python way', () => {
  it('keyword arguments name the parameters', () => {
    expect(render("{{ debian_package_install(['a'], clean_package_cache=False) }}", BASES.ubuntu)).toBe(
      debianPackageInstall(['a'], false),
    );
  });
});

describe('template_helpers', () => {
  it('a helper file that is not there is an error at its key in images.yaml', () => {
    const root = makeTree({ 'templates/t.j2': '{{ f() }}' });
    const config = makeConfig(
      root,
      { templateHelpers: { globals: { f: 'missing.py' }, filters: {} } },
      {
        'template_helpers.globals.f': { line: 7, col: 9 },
      },
    );
    expect(() => createRenderer(config)).toThrow(/images\.yaml:7:9: error: missing\.py: not found/);
  });

  it('@pass_context functions see the template context; open() reads inside the project only', () => {
    const helpers = `
from jinja2 import pass_context

@pass_context
def greet(context, who):
    return '%s from %s' % (who, context.get('site', 'nowhere'))

def read(path):
    with open(path) as f:
        return f.read().strip()
`;
    const root = makeTree({
      'templates/t.j2': "{{ greet('hi') }}|{{ read(data) }}",
      'templates/h.py': helpers,
      'templates/data.txt': 'x\n',
    });
    const config = makeConfig(root, {
      variables: { site: 'lab', data: `${root}/templates/data.txt` },
      templateHelpers: { globals: { greet: 'h.py', read: 'h.py' }, filters: {} },
    });
    expect(createRenderer(config).renderDockerfile(makeImage('i', { template: 't.j2' }), 'scratch')).toBe(
      'hi from lab|x',
    );
    const outside = makeTree({ 'templates/t.j2': "{{ read('/etc/hostname') }}", 'templates/h.py': helpers });
    const denied = makeConfig(outside, { templateHelpers: { globals: { read: 'h.py' }, filters: {} } });
    expect(() =>
      createRenderer(denied).renderDockerfile(makeImage('i', { template: 't.j2' }), 'scratch'),
    ).toThrow(/PermissionError: \/etc\/hostname: outside the project/);
  });
});
