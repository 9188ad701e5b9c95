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
  if (d.image) parts.push(`image ${d.image}`);
  return `${parts.join(': ')}: ${d.message}`;
}

/** Throws when any diagnostic is an error; warnings alone pass through to the caller. */
export function throwIfErrors(diagnostics: Diagnostic[]): void {
  if (diagnostics.some((d) => d.severity === 'error')) throw new ArborError(diagnostics);
}
