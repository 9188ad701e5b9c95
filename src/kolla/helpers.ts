// Which template helpers the imported project uses. arbor has Kolla's helpers built in
// (src/render/helpers/kolla-methods.ts: handle_repos, debian_package_install, raise_error,
// customizable, as Kolla's current kolla/template/ defines them). Kolla changes them between
// releases, so the import renders every template twice — with the built-in helpers and with the
// checkout's own Python (run by arbor's interpreter) — and keeps the built-in ones only when
// every image renders the same. Otherwise, or when the checkout has a helper arbor lacks, the
// project gets the checkout's helper files under `docker/kolla-template/` and `template_helpers:`
// naming them, so it renders what this Kolla's kolla-build renders.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ArborError, type Diagnostic, error, warning } from '../errors.js';
import { KOLLA_FILTERS, KOLLA_GLOBALS } from '../render/helpers/kolla-methods.js';
import type { TemplateContext } from './defaults.js';
import { type KollaImage, type Rendered, renderOriginals } from './images.js';

/** Where the checkout's helper modules go, under the templates directory. */
export const HELPERS_DIR = 'kolla-template';

export interface HelperChoice {
  rendered: Map<string, Rendered>;
  /** `template_helpers` when the checkout's own Python is used. */
  python?: { globals: Record<string, string>; filters: Record<string, string> };
  /** Files for the templates directory (the helper modules and the data beside them). */
  files: Map<string, string>;
  notes: Diagnostic[];
}

export function chooseHelpers(
  images: KollaImage[],
  templateFiles: Map<string, string | Buffer>,
  variables: Record<string, unknown>,
  context: Pick<TemplateContext, 'globals' | 'filters'>,
): HelperChoice {
  const lacking = [
    ...Object.keys(context.globals).filter((g) => !(KOLLA_GLOBALS as readonly string[]).includes(g)),
    ...Object.keys(context.filters).filter((f) => !(KOLLA_FILTERS as readonly string[]).includes(f)),
  ];
  const { files, config, unlocated } = helperModules(context);
  let own: Map<string, Rendered> | undefined;
  let ownProblem: string | undefined;
  if (unlocated.length === 0)
    try {
      own = renderOriginals(images, new Map([...templateFiles, ...files]), variables, config);
    } catch (err) {
      if (!(err instanceof ArborError)) throw err;
      ownProblem = err.diagnostics.map((d) => d.message).join('; ');
    }
  else ownProblem = `no Python file found for ${unlocated.join(', ')}`;

  if (own === undefined) {
    if (lacking.length > 0)
      throw new ArborError(
        lacking.map((name) =>
          error(
            `kolla-build gives its templates ${name}, which arbor does not have and cannot run (${ownProblem})`,
          ),
        ),
      );
    return {
      rendered: renderOriginals(images, templateFiles, variables),
      files: new Map(),
      notes: [
        warning(
          `the checkout's template helpers could not be run (${ownProblem}); arbor's built-in ones are used`,
        ),
      ],
    };
  }
  const theirs = (note: string): HelperChoice => ({
    rendered: own!,
    python: config,
    files,
    notes: [
      warning(`${note}; the project runs the checkout's own helpers (template_helpers: ${HELPERS_DIR}/)`),
    ],
  });
  if (lacking.length > 0) return theirs(`arbor has no built-in ${lacking.join(', ')}`);
  const builtIn = renderOriginals(images, templateFiles, variables);
  const differing = images.filter((i) => !same(builtIn.get(i.kollaName)!, own.get(i.kollaName)!));
  if (differing.length === 0) return { rendered: builtIn, files: new Map(), notes: [] };
  return theirs(
    `this Kolla's template helpers render ${differing.length} image(s) differently from arbor's built-in ones (first: ${differing[0]!.kollaName})`,
  );
}

function same(a: Rendered, b: Rendered): boolean {
  if ('text' in a && 'text' in b) return a.text === b.text;
  return 'problems' in a && 'problems' in b;
}

/** The checkout's helper modules and the files beside them (repos.yaml), for `kolla-template/`. */
function helperModules(context: Pick<TemplateContext, 'globals' | 'filters'>): {
  files: Map<string, string>;
  config: { globals: Record<string, string>; filters: Record<string, string> };
  unlocated: string[];
} {
  const files = new Map<string, string>();
  const config = { globals: {} as Record<string, string>, filters: {} as Record<string, string> };
  const unlocated: string[] = [];
  const dirs = new Set<string>();
  for (const [kind, table] of [
    ['globals', context.globals],
    ['filters', context.filters],
  ] as const) {
    for (const [name, file] of Object.entries(table)) {
      if (file === undefined) {
        unlocated.push(name);
        continue;
      }
      config[kind][name] = `${HELPERS_DIR}/${path.basename(file)}`;
      dirs.add(path.dirname(file));
    }
  }
  for (const dir of dirs)
    for (const name of readdirSync(dir).sort()) {
      const file = path.join(dir, name);
      if (statSync(file).isFile() && /\.(py|ya?ml|json)$/.test(name))
        files.set(`${HELPERS_DIR}/${name}`, readFileSync(file, 'utf8'));
    }
  return { files, config, unlocated };
}
