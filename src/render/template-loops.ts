// Include, import and extends loops between templates, found by name before anything renders.
// Rendering a loop would recurse until the stack overflows (and Nunjucks would nest one line of
// context per level into the error: megabytes of output). Templates are not recursive in arbor:
// a loop is an error even when a condition around the tag would stop it at run time.
// A template loaded by a name computed at render time is not seen here; the renderer turns the
// stack overflow such a loop causes into a short error instead.

import type { TemplateReference } from './template-loader.js';

export interface TemplateLoop {
  /** The templates around the loop, starting (and implicitly ending) at the smallest name. */
  templates: string[];
  /** The tag that closes the loop: in the last template of `templates`, loading the first. */
  closing: TemplateReference & { in: string };
  /** `include loop: a.njk → b.njk → a.njk` */
  message: string;
}

/**
 * The first loop reachable from `start`, or undefined. `referencesOf` gives a template's
 * references (already resolved); undefined for a template that cannot be read or parsed.
 * The same loop is described the same way from wherever it is reached, so an error found
 * through several images is reported once.
 */
export function findTemplateLoop(
  start: string,
  referencesOf: (template: string) => TemplateReference[] | undefined,
): TemplateLoop | undefined {
  const done = new Set<string>();
  // The path from `start` to the template being explored, with the edge taken out of each.
  const path: Array<{ template: string; via?: TemplateReference }> = [];
  const onPath = new Map<string, number>();

  const visit = (template: string): TemplateLoop | undefined => {
    onPath.set(template, path.length);
    path.push({ template });
    for (const ref of referencesOf(template) ?? []) {
      path[path.length - 1]!.via = ref;
      const at = onPath.get(ref.name);
      if (at !== undefined) return describe(path.slice(at));
      if (done.has(ref.name)) continue;
      const found = visit(ref.name);
      if (found) return found;
    }
    path.pop();
    onPath.delete(template);
    done.add(template);
    return undefined;
  };
  return visit(start);
}

const SELF: Record<TemplateReference['kind'] | 'template', string> = {
  include: 'includes',
  extends: 'extends',
  import: 'imports',
  template: 'loads',
};

/** The loop from its steps (each template with the reference it takes to the next). */
function describe(steps: Array<{ template: string; via?: TemplateReference }>): TemplateLoop {
  // Rotate to start at the smallest name: the same loop reads the same from every entry point.
  let first = 0;
  steps.forEach((step, i) => {
    if (step.template < steps[first]!.template) first = i;
  });
  const rotated = [...steps.slice(first), ...steps.slice(0, first)];
  const templates = rotated.map((step) => step.template);
  const last = rotated[rotated.length - 1]!;
  const kinds = new Set(rotated.map((step) => step.via!.kind));
  const kind = kinds.size === 1 ? [...kinds][0]! : 'template';
  const chain =
    templates.length === 1
      ? `${templates[0]} ${SELF[kind]} itself`
      : [...templates, templates[0]!].join(' → ');
  return {
    templates,
    closing: { ...last.via!, in: last.template },
    message: `${kind} loop: ${chain}; templates may not load themselves, directly or through others`,
  };
}
