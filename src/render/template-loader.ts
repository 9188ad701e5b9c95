// Loads Dockerfile templates from the templates directory for Nunjucks.
//
// Two things Nunjucks' FileSystemLoader cannot do, and why this loader exists:
// - Errors must name the template file they happened in. Nunjucks reports every render error
//   against the template it was asked to render, even when the error is inside a parent layout
//   or a macro file. This loader compiles each template itself and names the compiled code after
//   the template (`//# sourceURL=`), so the stack of any error says which template it came from.
// - Kolla-style overrides: an override does `{% extends parent_template %}`, and `parent_template`
//   means "the previous template in this image's chain". One context is shared by the whole
//   render, so the name is resolved here, relative to the template doing the extends.
// Compiled templates are cached by name for the renderer's lifetime (a warm run is cheap).

import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import type nunjucks from 'nunjucks';
import { displayPath } from '../display-path.js';
import { decodeUtf8 } from '../utf8-text.js';
import { compileJinja2Source, JINJA2_RUNTIME, jinja2Runtime } from './jinja2/index.js';
import { templateReferenceNodes } from './nunjucks-internals.js';

/** The value of `parent_template` in every template context; resolved by the loader. */
export const PARENT_TEMPLATE = 'arbor:parent_template';

/** Prefix of the source URL given to compiled template code; what follows is the template name. */
export const TEMPLATE_SOURCE_URL = 'arbor-template:';

/** A template that cannot be found or may not be used. No position: the caller knows where it was asked for. */
export class TemplateLookupError extends Error {
  constructor(
    message: string,
    /** The name as the template asked for it (`parent_template` for the chain's parent). */
    readonly requested?: string,
  ) {
    super(message);
    this.name = 'TemplateLookupError';
  }
}

/** Errors raised while compiling a template, by the template they belong to. */
const compileErrorTemplates = new WeakMap<object, string>();

export function templateOfCompileError(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null ? compileErrorTemplates.get(err) : undefined;
}

/** A template loading another by name: which, how, and where the tag is (1-based). */
export interface TemplateReference {
  name: string;
  kind: 'extends' | 'include' | 'import';
  line: number;
  col: number;
}

/** As written in the template, before resolution. */
type WrittenReference = TemplateReference;

const REFERENCE_KINDS: Record<string, TemplateReference['kind'] | undefined> = {
  Extends: 'extends',
  Include: 'include',
  Import: 'import',
  FromImport: 'import',
};

export class TemplateLoader {
  /** Filled and read by the Nunjucks Environment: compiled templates by name. */
  cache: Record<string, unknown> = {};
  /** The override chain of the image being rendered: the image's template first. */
  chain: readonly string[] = [];
  private env: nunjucks.Environment | undefined;
  private readonly sources = new Map<string, string>();
  private readonly written = new Map<string, WrittenReference[] | null>();
  private readonly realDir: string;

  constructor(readonly templatesDir: string) {
    this.realDir = existsSync(templatesDir) ? realpathSync(templatesDir) : templatesDir;
  }

  /** The environment whose options the templates are compiled with. */
  attach(env: nunjucks.Environment): void {
    this.env = env;
  }

  /** Absolute path of a template by name. */
  fileOf(name: string): string {
    return path.join(this.templatesDir, name);
  }

  /** The source of a template this loader has read. */
  sourceOf(name: string): string | undefined {
    return this.sources.get(name);
  }

  /** Normalizes a template name relative to the templates directory, refusing names outside it. */
  normalize(name: string): string {
    if (path.isAbsolute(name) || path.win32.isAbsolute(name))
      throw new TemplateLookupError(
        `template "${name}" must be a path relative to the templates directory`,
        name,
      );
    const normalized = path.posix.normalize(name.replaceAll('\\', '/'));
    if (normalized === '..' || normalized.startsWith('../'))
      throw new TemplateLookupError(`template "${name}" is outside the templates directory`, name);
    return normalized;
  }

  /** Whether a template exists (after normalization). */
  exists(name: string): boolean {
    return existsSync(this.fileOf(this.normalize(name)));
  }

  isRelative(name: string): boolean {
    return name === PARENT_TEMPLATE || name.startsWith('./') || name.startsWith('../');
  }

  resolve(from: string, to: string): string {
    if (to === PARENT_TEMPLATE) {
      const at = this.chain.indexOf(from);
      const previous = at > 0 ? this.chain[at - 1] : undefined;
      if (previous === undefined)
        throw new TemplateLookupError(
          `parent_template is only defined in override templates (template_overrides, override); "${from}" is not one`,
          PARENT_TEMPLATE,
        );
      return previous;
    }
    return this.normalize(path.posix.join(path.posix.dirname(from), to));
  }

  /**
   * The templates `name` loads by a name written in it (extends, include, import, from … import;
   * `parent_template` through the current chain), resolved as Nunjucks resolves them. A name
   * computed at render time cannot be known here. Undefined when the template cannot be read or
   * parsed: rendering reports that, with its position.
   */
  references(name: string): TemplateReference[] | undefined {
    const written = this.writtenReferences(name);
    if (!written) return undefined;
    const resolved: TemplateReference[] = [];
    for (const ref of written) {
      try {
        const target = this.isRelative(ref.name) ? this.resolve(name, ref.name) : this.normalize(ref.name);
        resolved.push({ ...ref, name: target });
      } catch {
        // A name that may not be used is reported when the template renders.
      }
    }
    return resolved;
  }

  private writtenReferences(name: string): WrittenReference[] | null {
    let written = this.written.get(name);
    if (written !== undefined) return written;
    written = null;
    try {
      const src = this.sources.get(name) ?? readFileSync(this.fileOf(name), 'utf8');
      if (!this.env) throw new Error('TemplateLoader used before attach(env)');
      written = templateReferenceNodes(this.env, src).flatMap((node): WrittenReference[] => {
        const kind = REFERENCE_KINDS[node.typename];
        const value = node.template;
        const line = node.lineno + 1;
        const col = node.colno + 1;
        if (!kind || !value) return [];
        if (value.typename === 'Literal' && typeof value.value === 'string')
          return [{ name: value.value, kind, line, col }];
        if (value.typename === 'Symbol' && value.value === 'parent_template')
          return [{ name: PARENT_TEMPLATE, kind, line, col }];
        return [];
      });
    } catch {
      written = null;
    }
    this.written.set(name, written);
    return written;
  }

  getSource(name: string): nunjucks.LoaderSource {
    const normalized = this.normalize(name);
    const file = this.fileOf(normalized);
    if (!existsSync(file))
      throw new TemplateLookupError(
        `template "${normalized}" not found in ${displayPath(this.templatesDir)}`,
      );
    if (!statSync(file).isFile())
      throw new TemplateLookupError(`template "${normalized}" is a directory, not a file`);
    const real = realpathSync(file);
    if (path.relative(this.realDir, real).startsWith('..'))
      throw new TemplateLookupError(
        `template "${normalized}" is a link to a file outside the templates directory`,
      );
    const decoded = decodeUtf8(readFileSync(file));
    if (!('text' in decoded))
      throw new TemplateLookupError(
        `template "${normalized}" is not UTF-8 text (an invalid byte on line ${decoded.badLine})`,
      );
    const src = decoded.text;
    this.sources.set(normalized, src);
    // Nunjucks accepts precompiled code in place of a source string (Template#init, type "code").
    return {
      src: { type: 'code', obj: this.compile(src, normalized) },
      path: normalized,
      noCache: false,
    } as never;
  }

  private compile(src: string, name: string): unknown {
    if (!this.env) throw new Error('TemplateLoader used before attach(env)');
    let code: string;
    try {
      code = compileJinja2Source(this.env, src, name);
    } catch (err) {
      if (typeof err === 'object' && err !== null) compileErrorTemplates.set(err, name);
      throw err;
    }
    // Same as Nunjucks' Template#_compile, plus the source URL that names this template in stacks,
    // and the Jinja2 helpers the compiled code calls (src/render/jinja2/compiler.ts).
    const factory = new Function(
      JINJA2_RUNTIME,
      `${code}\n//# sourceURL=${TEMPLATE_SOURCE_URL}${encodeURIComponent(name)}`,
    );
    return factory(jinja2Runtime);
  }
}
