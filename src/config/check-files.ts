// Checks that every path images.yaml names exists, has the right kind, and stays inside the
// repository (no absolute paths, no `..` or symlink leading out), and applies the default
// template rule: an image without `template` or `dockerfile` uses `<name>.Dockerfile.njk`.
import { readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import { type Diagnostic, error } from '../errors.js';
import { DEFAULT_TEMPLATES_DIR } from './build.js';
import type { Config, ImageConfig } from './model.js';
import { NOTHING_REJECTED, type Rejected } from './rejected.js';
import type { DataPath } from './source.js';
import { didYouMean } from './suggest.js';

type Kind = 'file' | 'directory';

export interface FileCheckResult {
  /** The images with default templates filled in. */
  images: ImageConfig[];
  diagnostics: Diagnostic[];
}

/** Paths the schema rejected (`rejected`) were reported already and are not looked at. */
export async function checkFiles(
  config: Config,
  rejected: Rejected = NOTHING_REJECTED,
): Promise<FileCheckResult> {
  const checker = new PathChecker(config);
  const diagnostics: Diagnostic[] = [];
  const push = (d: Diagnostic | null) => {
    if (d) diagnostics.push(d);
  };

  // Without a usable templates directory, templates cannot be looked for.
  const templatesRejected = rejected.at(['templates_dir']);
  const templatesInside = templatesRejected
    ? null
    : checker.containment(config.root, config.templatesDir, ['templates_dir'], 'templates_dir');
  push(templatesInside);
  // A templates_dir written in the file that is not a directory is said once, where it is written
  // (each image's template would otherwise be reported missing under it).
  const templatesMissing =
    templatesInside === null &&
    !templatesRejected &&
    config.templatesDir !== path.resolve(config.root, DEFAULT_TEMPLATES_DIR)
      ? await checker.exists(config.templatesDir, 'directory', ['templates_dir'], 'templates_dir')
      : null;
  push(templatesMissing);
  const templatesUsable = templatesInside === null && templatesMissing === null && !templatesRejected;

  if (config.registry.caFile !== undefined && !rejected.at(['registry', 'ca_file'])) {
    const caFile = path.resolve(config.root, config.registry.caFile);
    push(await checker.exists(caFile, 'file', ['registry', 'ca_file'], 'ca_file'));
  }
  for (const d of await checkSigningFiles(checker, config, rejected)) push(d);
  if (templatesUsable) {
    const checks = config.templateOverrides.map((template, index) =>
      rejected.at(['template_overrides', index])
        ? null
        : checker.template(template, ['template_overrides', index], 'template override'),
    );
    for (const d of await Promise.all(checks)) push(d);
  }

  const images = await Promise.all(
    config.images.map(async (image) => {
      const result = await checkImage(checker, config, image, templatesUsable, rejected);
      diagnostics.push(...result.diagnostics);
      return result.image;
    }),
  );
  return { images, diagnostics };
}

/** The key and passphrase files `signing:` names (keys may live outside the repository, like ca_file). */
function checkSigningFiles(checker: PathChecker, config: Config, rejected: Rejected) {
  const signing = config.signing;
  const files: Array<[string | undefined, DataPath, string]> = [
    [signing?.gpg?.passphraseFile, ['signing', 'gpg', 'passphrase_file'], 'passphrase_file'],
    [signing?.sigstore?.key, ['signing', 'sigstore', 'key'], 'key'],
    [signing?.sigstore?.publicKey, ['signing', 'sigstore', 'public_key'], 'public_key'],
    [signing?.sigstore?.passphraseFile, ['signing', 'sigstore', 'passphrase_file'], 'passphrase_file'],
  ];
  // Lookaside directories are made when first signed into; one that is a file cannot be.
  const lookasides: Array<[string | undefined, DataPath]> = [
    [signing?.gpg?.lookaside, ['signing', 'gpg', 'lookaside']],
    ...config.promote.map((t, i): [string | undefined, DataPath] => [
      t.sign?.lookaside,
      ['promote', i, 'sign', 'lookaside'],
    ]),
  ];
  return Promise.all([
    ...files
      .filter(([file, at]) => file !== undefined && !rejected.at(at))
      .map(([file, at, what]) => checker.exists(path.resolve(config.root, file!), 'file', at, what)),
    ...lookasides
      .filter(([dir, at]) => dir !== undefined && !rejected.at(at))
      .map(([dir, at]) => checker.directoryOrAbsent(path.resolve(config.root, dir!), at, 'lookaside')),
  ]);
}

async function checkImage(
  checker: PathChecker,
  config: Config,
  image: ImageConfig,
  templatesUsable: boolean,
  rejected: Rejected,
): Promise<{ image: ImageConfig; diagnostics: Diagnostic[] }> {
  const at = (...key: Array<string | number>): DataPath => ['images', image.name, ...key];
  const fine = (...key: Array<string | number>) => !rejected.at(at(...key));
  const checks: Array<Promise<Diagnostic | null> | Diagnostic | null> = [];
  let resolved = image;

  if (image.template !== undefined && templatesUsable) {
    if (fine('template')) checks.push(checker.template(image.template, at('template'), 'template'));
  } else if (image.template === undefined && image.dockerfile === undefined && templatesUsable) {
    const fallback = `${image.name}.Dockerfile.njk`;
    if ((await kindOf(path.join(config.templatesDir, fallback))) === 'file') {
      resolved = { ...image, template: fallback };
    } else if (!rejected.within(at())) {
      // (While the entry has schema errors, e.g. a misspelt `template`, this could be wrong.)
      const shown = checker.show(path.join(config.templatesDir, fallback));
      checks.push(
        error(`no Dockerfile: set "template" or "dockerfile", or create ${shown}`, {
          loc: image.loc,
          image: image.name,
        }),
      );
    }
  }
  if (image.override !== undefined && templatesUsable && fine('override')) {
    checks.push(checker.template(image.override, at('override'), 'override'));
  }
  if (image.dockerfile !== undefined && fine('dockerfile')) {
    checks.push(checker.inRoot(image.dockerfile, 'file', at('dockerfile'), 'dockerfile'));
  }
  if (image.context !== undefined && fine('context')) {
    checks.push(checker.inRoot(image.context, 'directory', at('context'), 'context'));
  }
  image.inputs.files.forEach((pattern, index) => {
    if (fine('inputs', 'files', index)) checks.push(checker.input(pattern, at('inputs', 'files', index)));
  });

  const diagnostics = (await Promise.all(checks))
    .filter((d): d is Diagnostic => d !== null)
    .map((d) => ({ ...d, image: image.name }));
  return { image: resolved, diagnostics };
}

class PathChecker {
  private realRoot: Promise<string> | undefined;
  private templateNames: Promise<string[]> | undefined;

  /** Where images.yaml is as the user sees it (`.`, `conf`, or absolute). */
  private readonly displayDir: string;

  constructor(private readonly config: Config) {
    this.displayDir = path.dirname(config.locate([]).file);
  }

  /** A path for messages, shown the way images.yaml itself is shown (`conf/templates/x.njk`). */
  show(absolute: string): string {
    const relative = path.relative(this.config.root, absolute);
    if (relative.startsWith('..') || path.isAbsolute(relative)) return absolute;
    return path.join(this.displayDir, relative);
  }

  /** `inner` must be `base` or below it, lexically. */
  containment(base: string, inner: string, at: DataPath, what: string): Diagnostic | null {
    const relative = path.relative(base, inner);
    if (relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative))) return null;
    return error(`${what} ${this.show(inner)} is outside ${this.show(base)}`, {
      loc: this.config.locate(at),
    });
  }

  /** A path relative to the config root that must exist, have `kind`, and stay inside the root. */
  async inRoot(relative: string, kind: Kind, at: DataPath, what: string): Promise<Diagnostic | null> {
    const leaves = this.escapes(relative, at, what);
    if (leaves) return leaves;
    const absolute = path.resolve(this.config.root, relative);
    return (await this.exists(absolute, kind, at, what)) ?? (await this.symlinkEscape(absolute, at, what));
  }

  /** A template path relative to the templates directory. */
  async template(relative: string, at: DataPath, what: string): Promise<Diagnostic | null> {
    const absolute = path.resolve(this.config.templatesDir, relative);
    if (path.isAbsolute(relative)) {
      return error(`${what} "${relative}" must be relative to the templates directory`, {
        loc: this.config.locate(at),
      });
    }
    const inside = path.relative(this.config.templatesDir, absolute);
    if (inside.startsWith('..') || path.isAbsolute(inside)) {
      return error(
        `${what} "${relative}" leads outside the templates directory (${this.show(this.config.templatesDir)})`,
        {
          loc: this.config.locate(at),
        },
      );
    }
    const kind = await kindOf(absolute);
    if (kind === 'file') return this.symlinkEscape(absolute, at, what);
    const hint = kind === 'missing' ? didYouMean(relative, await this.templatesInDir()) : '';
    return error(`${what} ${this.show(absolute)} ${describeMissing(kind, 'file')}${hint}`, {
      loc: this.config.locate(at),
    });
  }

  /**
   * An `inputs.files` entry: a path or glob under the root. Globs matching nothing are the
   * fingerprint module's concern; a plain path is checked now.
   */
  async input(pattern: string, at: DataPath): Promise<Diagnostic | null> {
    const leaves = this.escapes(pattern, at, 'input');
    if (leaves) return leaves;
    if (picomatch.scan(pattern).isGlob) return null;
    return this.exists(path.resolve(this.config.root, pattern), 'file', at, 'input file');
  }

  /** A directory arbor will create when it is missing: only something else in its place is wrong. */
  async directoryOrAbsent(absolute: string, at: DataPath, what: string): Promise<Diagnostic | null> {
    const actual = await kindOf(absolute);
    if (actual === 'directory' || actual === 'missing') return null;
    return error(`${what} ${this.show(absolute)} is not a directory`, { loc: this.config.locate(at) });
  }

  async exists(absolute: string, kind: Kind, at: DataPath, what: string): Promise<Diagnostic | null> {
    const actual = await kindOf(absolute);
    if (actual === kind) return null;
    return error(`${what} ${this.show(absolute)} ${describeMissing(actual, kind)}`, {
      loc: this.config.locate(at),
    });
  }

  private escapes(relative: string, at: DataPath, what: string): Diagnostic | null {
    if (path.isAbsolute(relative)) {
      return error(`${what} "${relative}" must be a path relative to ${path.basename(this.config.file)}`, {
        loc: this.config.locate(at),
      });
    }
    const normalized = path.posix.normalize(relative.replaceAll('\\', '/'));
    if (normalized === '..' || normalized.startsWith('../')) {
      return error(`${what} "${relative}" leads outside the repository (${this.show(this.config.root)})`, {
        loc: this.config.locate(at),
      });
    }
    return null;
  }

  /** The path exists and is inside lexically; a symlink on the way must not lead out. */
  private async symlinkEscape(absolute: string, at: DataPath, what: string): Promise<Diagnostic | null> {
    this.realRoot ??= realpath(this.config.root);
    const [root, real] = await Promise.all([this.realRoot, realpath(absolute)]);
    const relative = path.relative(root, real);
    if (relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative))) return null;
    return error(`${what} ${this.show(absolute)} is a symlink to ${real}, outside the repository`, {
      loc: this.config.locate(at),
    });
  }

  private templatesInDir(): Promise<string[]> {
    this.templateNames ??= readdir(this.config.templatesDir).catch(() => []);
    return this.templateNames;
  }
}

async function kindOf(absolute: string): Promise<Kind | 'missing' | 'other'> {
  try {
    const info = await stat(absolute);
    return info.isFile() ? 'file' : info.isDirectory() ? 'directory' : 'other';
  } catch {
    return 'missing';
  }
}

function describeMissing(actual: Kind | 'missing' | 'other', wanted: Kind): string {
  if (actual === 'missing') return 'does not exist';
  return `is not a ${wanted}`;
}
