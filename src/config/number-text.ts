// YAML reads `release: 2025.10` as the number 2025.1: the tag built from it then says 2025.1,
// which is another release. A variable whose number reads differently from how it is written is
// warned about where it is written (the file's text is at hand only here, before the model).
import { type Diagnostic, type SourceLocation, warning } from '../errors.js';
import type { DataPath } from './source.js';

/** Warnings for number-valued variables (top-level and per image) written otherwise than they read. */
export function numbersReadOtherwise(
  data: unknown,
  text: string,
  locate: (path: DataPath) => SourceLocation,
): Diagnostic[] {
  const found: Diagnostic[] = [];
  let lines: string[] | undefined;
  const visit = (value: unknown, path: DataPath) => {
    if (typeof value === 'number') {
      const loc = locate(path);
      lines ??= text.split('\n');
      const written = /^[^\s,\]}#]+/.exec(lines[loc.line - 1]?.slice(loc.col - 1) ?? '')?.[0];
      if (written !== undefined && written !== String(value) && Number(written) === value)
        found.push(
          warning(
            `${path.join('.')}: ${written} is read as the number ${value}; quote it ("${written}") to keep it as written`,
            { loc },
          ),
        );
      return;
    }
    if (value !== null && typeof value === 'object')
      for (const [key, child] of Object.entries(value))
        visit(child, [...path, Array.isArray(value) ? Number(key) : key]);
  };
  if (data === null || typeof data !== 'object') return found;
  const root = data as { variables?: unknown; images?: Record<string, { variables?: unknown } | null> };
  visit(root.variables, ['variables']);
  if (root.images && typeof root.images === 'object')
    for (const [name, image] of Object.entries(root.images))
      if (image && typeof image === 'object') visit(image.variables, ['images', name, 'variables']);
  return found;
}
