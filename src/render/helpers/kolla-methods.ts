// Kolla's template helpers (kolla/template/methods.py and filters.py), reimplemented with the
// same output byte for byte, so Kolla's Dockerfile.j2 files — and any template that calls
// them — render in arbor as kolla-build renders them:
//
//   debian_package_install(packages, clean_package_cache=True)
//       `apt-get install` of the package names, and for each http(s) URL a download + `dpkg -i`.
//   handle_repos(reponames, mode)          mode 'enable' or 'disable'
//       the RUN line that enables/disables the named package repositories, looked up in
//       `repos.yaml` of the templates directory (Kolla's own file, copied by `import-kolla`),
//       merged with the file named by the `repos_yaml` variable when it is set (Kolla's
//       --repos-yaml), for the context's base_package_type / base_distro / base_arch.
//   raise_error(message)                   fails the render with that message
//   filter customizable(list, call_type)
//       Kolla's per-image customization: `<image_name>_<call_type>_override` replaces the list,
//       `…_append` extends it, `…_remove` takes items out (variables, e.g. set in a template
//       override). `image_name` is the image's variable; dashes become underscores.
//
// Python's str.format of a value is Python's str(): `True`, not `true` (see pyStr).

import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import type nunjucks from 'nunjucks';
import { isMapping, pyStr, withSignature } from '../../python/semantics.js';

/** What the helpers need to know about the project. */
export interface KollaHelperOptions {
  /** Directory of the templates; Kolla's default `repos.yaml` is looked up there. */
  templatesDir: string;
  /** Directory relative paths in variables (`repos_yaml`) are resolved against. */
  root: string;
}

/** The file of Kolla's default repository definitions, in the templates directory. */
export const REPOS_FILE = 'repos.yaml';

interface NunjucksContext {
  ctx: Record<string, unknown>;
  lookup(name: string): unknown;
  env: nunjucks.Environment;
}

type Repo = Record<string, unknown>;
type RepoData = Record<string, Record<string, Repo> | null>;

export function debianPackageInstall(packages: unknown, cleanPackageCache: unknown = true): string {
  const list = (packages as unknown[]).map(String);
  const regular = list.filter((p) => !p.startsWith('http'));
  const urls = list.filter((p) => p.startsWith('http'));
  const commands: string[] = [];
  if (regular.length > 0) {
    commands.push('apt-get --error-on=any update');
    commands.push(`apt-get -y install --no-install-recommends ${regular.join(' ')}`);
    if (truthy(cleanPackageCache)) {
      commands.push('apt-get clean');
      commands.push('rm -rf /var/lib/apt/lists/*');
    }
  }
  for (const url of urls) {
    const name = url.slice(url.lastIndexOf('/') + 1);
    commands.push(`curl --location ${url} -o ${name}`, `dpkg -i ${name}`, `rm -rf ${name}`);
  }
  return commands.join(' && ');
}

/** Python truthiness of a template value. */
function truthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (isMapping(value)) return Object.keys(value).length > 0;
  return Boolean(value);
}

export function raiseError(message: unknown): never {
  throw new Error(String(message));
}

/** `customizable`: `this` is the Nunjucks context of the template calling the filter. */
export function customizable(this: NunjucksContext, list: unknown, callType: unknown): unknown {
  // As Kolla: an undefined list is passed through (a generic override may name lists that a
  // template does not define).
  if (list === undefined) return list;
  const imageName = this.lookup('image_name');
  if (typeof imageName !== 'string')
    throw new Error('customizable: the variable image_name is not set (the image being rendered)');
  const name = `${imageName.replaceAll('-', '_')}_${String(callType)}_`;
  const has = (key: string) => Object.hasOwn(this.ctx, key) || this.lookup(key) !== undefined;
  if (has(`${name}override`)) return this.lookup(`${name}override`);
  const values = list as unknown[];
  if (has(`${name}append`)) values.push(...(this.lookup(`${name}append`) as unknown[]));
  if (has(`${name}remove`))
    for (const removal of this.lookup(`${name}remove`) as unknown[]) {
      const at = values.indexOf(removal);
      if (at >= 0) values.splice(at, 1);
    }
  return values;
}

// The shell fragments of methods.py, with Python's `{name}` fields.
const APT_ARCH = " && echo 'Architectures: {arch}' >>/etc/apt/sources.list.d/{repo}.sources";
const APT_REPO =
  "echo 'Uris: {url}' >/etc/apt/sources.list.d/{repo}.sources && " +
  "echo 'Components: {component}' >>/etc/apt/sources.list.d/{repo}.sources && " +
  "echo 'Types: deb' >>/etc/apt/sources.list.d/{repo}.sources && " +
  "echo 'Suites: {suite}' >>/etc/apt/sources.list.d/{repo}.sources && " +
  "echo 'Signed-By: {signed_by}' >>/etc/apt/sources.list.d/{repo}.sources";
const APT_TRUSTED = " && echo 'Trusted: yes' >>/etc/apt/sources.list.d/{repo}.sources";
const DNF_BASEURL = " && echo 'baseurl={baseurl}' >>/etc/yum.repos.d/{repo}.repo";
const DNF_DISABLE = 'dnf config-manager --disable {name} || true';
const DNF_ENABLE = 'dnf config-manager --enable {name} || true';
const DNF_GPGCHECK = " && echo 'gpgcheck={gpgcheck}' >>/etc/yum.repos.d/{repo}.repo";
const DNF_GPGKEY = " && echo 'gpgkey={gpgkey}' >>/etc/yum.repos.d/{repo}.repo";
const DNF_GPGKEY_ADD = " && echo '       {gpgkey}' >>/etc/yum.repos.d/{repo}.repo";
const DNF_METALINK = " && echo 'metalink={metalink}' >>/etc/yum.repos.d/{repo}.repo";
const DNF_MIRRORLIST = " && echo 'mirrorlist={mirrorlist}' >>/etc/yum.repos.d/{repo}.repo";
const DNF_REMOVE_EXISTING = "grep -rlF '[{name}]' /etc/yum.repos.d/ 2>/dev/null | xargs -r rm -f";
const DNF_REPO =
  "echo '[{name}]' >/etc/yum.repos.d/{repo}.repo && " +
  "echo 'name={name}' >>/etc/yum.repos.d/{repo}.repo && " +
  "echo 'enabled=1' >>/etc/yum.repos.d/{repo}.repo";
const DNF_REPO_GPGCHECK = " && echo 'repo_gpgcheck={repo_gpgcheck}' >>/etc/yum.repos.d/{repo}.repo";

function fill(template: string, fields: Record<string, unknown>): string {
  return template.replace(/\{(\w+)\}/g, (_m, key: string) => pyStr(fields[key]));
}

/** YAML files read by handle_repos, by path, kept while their size and mtime are unchanged. */
const repoFiles = new Map<string, { stamp: string; data: RepoData }>();

// The YAML parser is loaded only for trees that have a repos file (Kolla's): see loadRepoParser.
let yamlModule: Pick<typeof import('yaml'), 'parse'> | undefined;

/** Loads the parser handle_repos reads repos.yaml with (awaited before rendering, by prepareRenderer). */
export async function loadRepoParser(): Promise<void> {
  // The default export, as a static `import YAML from 'yaml'` gives (the bundled CommonJS build
  // has no named exports on the namespace).
  const loaded = (await import('yaml')) as typeof import('yaml') & { default?: typeof import('yaml') };
  yamlModule ??= typeof loaded.parse === 'function' ? loaded : loaded.default;
}

function readRepoFile(file: string): RepoData {
  const stat = statSync(file);
  const stamp = `${stat.size}:${stat.mtimeMs}`;
  const cached = repoFiles.get(file);
  if (cached?.stamp === stamp) return cached.data;
  if (!yamlModule) throw new Error('internal: loadRepoParser() must be awaited before handle_repos runs');
  // PyYAML's safe_load reads YAML 1.1 (`yes`, `on` are booleans); so does this.
  const data = (yamlModule.parse(readFileSync(file, 'utf8'), { version: '1.1' }) ?? {}) as RepoData;
  repoFiles.set(file, { stamp, data });
  return data;
}

/** A deep copy: handle_repos merges into the sections and must not change the cached file. */
function copyRepoData(data: RepoData): RepoData {
  return Object.fromEntries(
    Object.entries(data).map(([section, repos]) => [
      section,
      repos === null ? null : Object.fromEntries(Object.entries(repos).map(([n, r]) => [n, { ...r }])),
    ]),
  );
}

function buildRepoList(data: RepoData, sections: string[]): Record<string, Repo> {
  const result: Record<string, Repo> = {};
  for (const section of sections) {
    for (const [name, info] of Object.entries(data[section] ?? {})) {
      if (Object.hasOwn(result, name)) {
        const merged: Repo = { ...result[name], ...info };
        if (['baseurl', 'metalink', 'mirrorlist', 'url'].some((k) => k in merged)) delete merged.distro;
        result[name] = merged;
      } else {
        result[name] = info;
      }
    }
  }
  return result;
}

export function makeHandleRepos(options: KollaHelperOptions) {
  return function handleRepos(this: NunjucksContext, reponames: unknown, mode: unknown): string {
    if (!Array.isArray(reponames))
      throw new TypeError('handle_repos: the first argument should be a list of repositories');
    const get = (name: string) => this.lookup(name);
    const defaults = readRepoFile(path.join(options.templatesDir, REPOS_FILE));
    const repoData = copyRepoData(defaults);
    const override = get('repos_yaml');
    if (typeof override === 'string' && override !== '') {
      const extra = readRepoFile(path.resolve(options.root, override));
      for (const [section, repos] of Object.entries(extra)) {
        if (section in repoData && repoData[section]) Object.assign(repoData[section]!, repos);
        else repoData[section] = repos;
      }
    }
    const packageType = get('base_package_type');
    const distro = get('base_distro');
    const arch = get('base_arch');
    const sections = [String(packageType), String(distro), `${String(distro)}-${String(arch)}`];
    const repoList = buildRepoList(repoData, sections);

    if (packageType === 'rpm' && typeof override === 'string' && override !== '')
      checkDistroOverrides(repoList, buildRepoList(copyRepoData(defaults), sections));

    let commands = '';
    reponames.forEach((repo: unknown, index: number) => {
      const name = String(repo);
      const info = repoList[name];
      if (info === undefined)
        throw new Error(
          `handle_repos: repository "${name}" is not in ${REPOS_FILE} for ${sections.join(', ')} (image ${String(get('image_name'))})`,
        );
      const last = index === reponames.length - 1;
      if (packageType === 'rpm') {
        if (mode === 'enable') {
          if (!truthy(info.distro)) commands += rpmRepo(name, info);
          else commands += fill(DNF_ENABLE, { name: required(info, 'name', name) });
          if (!last) commands += ' && ';
        } else if (mode === 'disable' && truthy(info.distro)) {
          commands += fill(DNF_DISABLE, { name: required(info, 'name', name) });
        }
      } else if (packageType === 'deb') {
        if (mode === 'enable' && !truthy(info.distro)) {
          const gpgKey = String(required(info, 'gpg_key', name));
          const codename = String(get('openstack_release_codename')).toLowerCase();
          commands += fill(APT_REPO, {
            component: required(info, 'component', name),
            signed_by: gpgKey.startsWith('/') ? gpgKey : `/etc/kolla/apt-keys/${gpgKey}`,
            suite: String(required(info, 'suite', name)).replaceAll('{openstack_release_codename}', codename),
            url: required(info, 'url', name),
            repo: name,
          });
          if (truthy(info.trusted)) commands += fill(APT_TRUSTED, { repo: name });
          if ('arch' in info) commands += fill(APT_ARCH, { arch: info.arch, repo: name });
          if (!last) commands += ' && ';
        }
      }
    });
    return commands === '' ? '' : `RUN ${commands}`;
  };
}

function required(info: Repo, key: string, repo: string): unknown {
  if (!(key in info)) throw new Error(`handle_repos: repository "${repo}" has no ${key}`);
  return info[key];
}

function rpmRepo(repo: string, info: Repo): string {
  const name = required(info, 'name', repo);
  let commands = `${fill(DNF_REMOVE_EXISTING, { name })} && ${fill(DNF_REPO, { name, repo })}`;
  if (truthy(info.gpgcheck)) commands += fill(DNF_GPGCHECK, { gpgcheck: info.gpgcheck, repo });
  if (truthy(info.repo_gpgcheck))
    commands += fill(DNF_REPO_GPGCHECK, { repo_gpgcheck: info.repo_gpgcheck, repo });
  if (!['baseurl', 'metalink', 'mirrorlist'].some((k) => k in info))
    throw new Error(`handle_repos: repository "${repo}" has no baseurl, metalink, or mirrorlist`);
  if (!('gpgkey' in info)) throw new Error(`handle_repos: repository "${repo}" has no gpgkey`);
  splitLines(String(info.gpgkey)).forEach((gpgkey, i) => {
    commands += fill(i === 0 ? DNF_GPGKEY : DNF_GPGKEY_ADD, { gpgkey, repo });
  });
  if ('baseurl' in info)
    for (const baseurl of splitLines(String(info.baseurl))) commands += fill(DNF_BASEURL, { baseurl, repo });
  else if ('metalink' in info) commands += fill(DNF_METALINK, { metalink: info.metalink, repo });
  else commands += fill(DNF_MIRRORLIST, { mirrorlist: info.mirrorlist, repo });
  return commands;
}

/** Python's str.splitlines(): no empty last line for a text ending in a newline. */
function splitLines(text: string): string[] {
  const lines = text.split(/\r\n|\r|\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/**
 * As Kolla: a repos_yaml that replaces distro-provided rpm repositories removes their .repo file,
 * so every distro repository sharing that file must be replaced too.
 */
function checkDistroOverrides(repoList: Record<string, Repo>, defaults: Record<string, Repo>): void {
  const overridden = Object.keys(repoList).filter(
    (r) => !truthy(repoList[r]!.distro) && truthy(defaults[r]?.distro),
  );
  if (overridden.length === 0) return;
  const groups = new Set(overridden.map((r) => defaults[r]?.file_group).filter((g) => truthy(g)));
  const stillDistro = Object.keys(repoList)
    .filter(
      (r) => truthy(repoList[r]!.distro) && !overridden.includes(r) && groups.has(repoList[r]!.file_group),
    )
    .sort();
  if (stillDistro.length > 0)
    throw new Error(
      `Repositories ${pyList(overridden.sort())} override distro-provided repos and will remove their .repo file. ` +
        `Repositories ${pyList(stillDistro)} are still using distro defaults and share the same file. ` +
        'Please also override them in your repos.yaml.',
    );
}

function pyList(items: string[]): string {
  return `[${items.map((i) => `'${i}'`).join(', ')}]`;
}

/** The names these helpers go by in templates (what kolla-build's _get_methods / _get_filters install). */
export const KOLLA_GLOBALS = ['debian_package_install', 'handle_repos', 'raise_error'] as const;
export const KOLLA_FILTERS = ['customizable'] as const;

/** Installs the helpers into an environment: globals and the `customizable` filter. */
export function installKollaHelpers(env: nunjucks.Environment, options: KollaHelperOptions): void {
  env.addGlobal(
    'debian_package_install',
    withSignature('debian_package_install', ['packages', 'clean_package_cache'], debianPackageInstall),
  );
  env.addGlobal(
    'handle_repos',
    withSignature('handle_repos', ['reponames', 'mode'], makeHandleRepos(options)),
  );
  env.addGlobal('raise_error', withSignature('raise_error', ['msg'], raiseError));
  env.addFilter(
    'customizable',
    withSignature('customizable', ['val_list', 'call_type'], customizable) as never,
  );
}
