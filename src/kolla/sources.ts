// Kolla's `*-archive` sources, as kolla-build's build_image_list() and tasks.py find them:
//   - the image's own source: the config section named like the image (`[nova-base]`), when its
//     `type` is set — it becomes `<image>-archive` in the build context;
//   - plugins: every section `<image>-plugin-*`, unpacked together into `plugins-archive`;
//   - additions: every section `<image>-additions-*`, together into `additions-archive`.
// Sections come from kolla/common/sources.py (registered by config.parse()) and from a
// kolla-build.conf. A section only in the file gets Kolla's own source options registered
// (kolla/common/config.py get_source_opts()), as kolla-build does. Disabled sources are skipped.

import { isDict, isUnknown, PyException, PyFunction, type PyValue } from '../python/values.js';
import type { KollaSource } from './defaults.js';
import type { ConfigOpts } from './python/oslo.js';
import type { KollaProgram } from './python/program.js';

export function imageSources(program: KollaProgram, conf: ConfigOpts, image: string): KollaSource[] {
  const sections = new Set([...conf.groupNames(), ...conf.fileSections()]);
  const found: KollaSource[] = [];
  const own = readSource(program, conf, image, `${image}-archive`, 'source');
  if (own) found.push(own);
  for (const [infix, kind, archive] of [
    ['plugin', 'plugin', 'plugins-archive'],
    ['additions', 'addition', 'additions-archive'],
  ] as const) {
    const prefix = `${image}-${infix}-`;
    for (const section of [...sections]
      .filter((s) => s.startsWith(prefix) && s.length > prefix.length)
      .sort()) {
      const source = readSource(program, conf, section, archive, kind);
      if (source) found.push(source);
    }
  }
  return found;
}

function readSource(
  program: KollaProgram,
  conf: ConfigOpts,
  section: string,
  archive: string,
  kind: KollaSource['kind'],
): KollaSource | undefined {
  if (!conf.hasGroup(section)) {
    if (!conf.fileSections().includes(section)) return undefined;
    registerSourceOpts(program, conf, section);
  }
  const value = (name: string): PyValue => {
    try {
      return conf.value(section, name);
    } catch (err) {
      if (err instanceof PyException) return null;
      throw err;
    }
  };
  const type = value('type');
  if (type === null || isUnknown(type)) return undefined;
  if (value('enabled') === false) return undefined;
  const location = value('location');
  const source: KollaSource = {
    section,
    archive,
    kind,
    type: String(type) as KollaSource['type'],
    location: String(location),
  };
  const reference = value('reference');
  if (type === 'git' && typeof reference === 'string') source.reference = reference;
  const sha256 = value('sha256');
  if (isDict(sha256))
    source.sha256 = Object.fromEntries(Object.entries(sha256).map(([k, v]) => [k, String(v)]));
  return source;
}

/** Registers Kolla's source options for a section that only the config file names. */
function registerSourceOpts(program: KollaProgram, conf: ConfigOpts, section: string): void {
  const getSourceOpts = program.scopeOf('kolla.common.config')?.vars.get('get_source_opts');
  if (!(getSourceOpts instanceof PyFunction)) return;
  conf.register(program.interpreter.callValue(getSourceOpts, [], {}), section);
}
