// Errors are values with a location until the CLI prints them (architecture.md, "Habits").
// Every module that can fail on user input collects Diagnostics and throws one ArborError
// holding all of them, so the user sees every mistake at once.

export interface SourceLocation {
  /** Path as the user should see it (relative to the working directory when possible). */
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  col: number;
}

export type Severity = 'error' | 'warning';

export interface Diagnostic {
  message: string;
  severity: Severity;
  loc?: SourceLocation;
  /** The image the problem belongs to, when there is one. */
  image?: string;
  /**
   * The images one problem belongs to, when it is shared (a template or tag template used by
   * several images): reported once, naming them (see mergeRepeats).
   */
  images?: string[];
}

export class ArborError extends Error {
  readonly diagnostics: Diagnostic[];

  constructor(diagnostics: Diagnostic[] | string, options?: { cause?: unknown }) {
    const list: Diagnostic[] =
      typeof diagnostics === 'string' ? [{ message: diagnostics, severity: 'error' }] : diagnostics;
    super(list.map(formatDiagnostic).join('\n'), options);
    this.name = 'ArborError';
    this.diagnostics = list;
  }
}

export function error(message: string, at?: { loc?: SourceLocation; image?: string }): Diagnostic {
  return { message, severity: 'error', ...at };
}

export function warning(message: string, at?: { loc?: SourceLocation; image?: string }): Diagnostic {
  return { message, severity: 'warning', ...at };
}

export function formatLocation(loc: SourceLocation): string {
  return `${loc.file}:${loc.line}:${loc.col}`;
}

/** `images.yaml:12:5: error: image keystone: unknown parent "keystone-bse"` */
export function formatDiagnostic(d: Diagnostic): string {
  const parts: string[] = [];
  if (d.loc) parts.push(formatLocation(d.loc));
  parts.push(d.severity);
  if (d.images && d.images.length > 1) parts.push(`images ${listBriefly(d.images)}`);
  else if (d.image ?? d.images?.[0]) parts.push(`image ${d.image ?? d.images?.[0]}`);
  return `${parts.join(': ')}: ${briefMessage(d.message)}`;
}

/** Longest message printed whole; longer ones (foreign text, huge values) are cut. */
const MESSAGE_MAX_CHARS = 400;
const MESSAGE_MAX_LINES = 4;

/**
 * A message of at most a few lines: whatever reaches an error (a value from a binary file, a
 * nested template error), the user sees its start and how much was left out, never megabytes.
 */
export function briefMessage(message: string): string {
  const lines = message.split('\n');
  let text = lines.length > MESSAGE_MAX_LINES ? lines.slice(0, MESSAGE_MAX_LINES).join('\n') : message;
  if (text.length > MESSAGE_MAX_CHARS) text = text.slice(0, MESSAGE_MAX_CHARS);
  if (text === message) return message;
  return `${text}… (${message.length.toLocaleString('en-US')} characters in all)`;
}

/**
 * A value from the user's files, quoted for a message: whole when short, its start and its
 * length when long, so a message never echoes a huge or binary value.
 */
export function quote(value: string, max = 60): string {
  // Control characters escaped (a binary value stays on one line); quotes as they are, so a
  // template like `{{ x | default("dev") }}` reads as written.
  const visible = (text: string) =>
    text.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
  if (value.length <= max) return `"${visible(value)}"`;
  return `"${visible(value.slice(0, max))}…" (${value.length.toLocaleString('en-US')} characters)`;
}

/** `a, b, c and 4 more`: enough names to recognise the set, never a wall of them. */
export function listBriefly(names: readonly string[], shown = 3): string {
  if (names.length <= shown + 1) return names.join(', ');
  return `${names.slice(0, shown).join(', ')} and ${names.length - shown} more`;
}

/**
 * One diagnostic per problem: the same message at the same place, found once per image (a
 * template or tag template several images use), becomes one diagnostic naming those images.
 * Order is kept (each at its first occurrence).
 */
export function mergeRepeats(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  const merged: Diagnostic[] = [];
  const byKey = new Map<string, Diagnostic>();
  for (const d of diagnostics) {
    const key = JSON.stringify([d.severity, d.message, d.loc ? formatLocation(d.loc) : null]);
    const first = byKey.get(key);
    const images = d.images ?? (d.image !== undefined ? [d.image] : []);
    if (!first) {
      const copy: Diagnostic = { ...d };
      if (images.length > 0) {
        delete copy.image;
        copy.images = [...images];
      }
      byKey.set(key, copy);
      merged.push(copy);
      continue;
    }
    const known = first.images ?? [];
    for (const image of images) if (!known.includes(image)) known.push(image);
    if (known.length > 0) first.images = known;
  }
  // A problem of one image keeps the usual `image X` form.
  return merged.map((d) => {
    if (d.images?.length !== 1) return d;
    const { images, ...rest } = d;
    return { ...rest, image: images[0]! };
  });
}

/** By file, line and column (diagnostics without a location first); stable otherwise. */
export function sortByLocation(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  const key = (d: Diagnostic): [string, number, number] =>
    d.loc ? [d.loc.file, d.loc.line, d.loc.col] : ['', 0, 0];
  return [...diagnostics].sort((a, b) => {
    const [fa, la, ca] = key(a);
    const [fb, lb, cb] = key(b);
    return fa < fb ? -1 : fa > fb ? 1 : la - lb || ca - cb;
  });
}

/** Throws when any diagnostic is an error; warnings alone pass through to the caller. */
export function throwIfErrors(diagnostics: Diagnostic[]): void {
  if (diagnostics.some((d) => d.severity === 'error')) throw new ArborError(diagnostics);
}
