// Parsing of `WWW-Authenticate` (RFC 7235 §4.1): one header may hold several challenges, each a
// scheme followed by either a token68 or comma-separated `name=value` parameters whose values
// are tokens or quoted strings with backslash escapes. Registries send `Basic realm="…"` or
// `Bearer realm="…",service="…",scope="…"`, but proxies in front of them add others.

export interface Challenge {
  /** Lower-cased: `basic`, `bearer`, … */
  scheme: string;
  /** Parameter names lower-cased (they are case-insensitive), values unquoted. */
  params: Record<string, string>;
  token68?: string;
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;
const TOKEN68 = /[A-Za-z0-9._~+/-]+=*/y;
const SPACES = /[ \t]*/y;

class Cursor {
  pos = 0;
  constructor(readonly text: string) {}

  match(pattern: RegExp): string | undefined {
    pattern.lastIndex = this.pos;
    const m = pattern.exec(this.text);
    if (!m || m[0] === '') return undefined;
    this.pos += m[0].length;
    return m[0];
  }

  skipSpaces(): void {
    this.match(SPACES);
  }

  peek(): string | undefined {
    return this.text[this.pos];
  }

  atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  /** A quoted-string starting at the cursor, unescaped; undefined (cursor unchanged) if unterminated. */
  quoted(): string | undefined {
    const start = this.pos;
    this.pos++; // opening quote
    let value = '';
    while (this.pos < this.text.length) {
      const c = this.text[this.pos++];
      if (c === '"') return value;
      if (c === '\\' && this.pos < this.text.length) value += this.text[this.pos++];
      else value += c;
    }
    this.pos = start;
    return undefined;
  }
}

/** All challenges of a `WWW-Authenticate` value, in order. Unparseable trailing text is ignored. */
export function parseWwwAuthenticate(value: string): Challenge[] {
  const cursor = new Cursor(value);
  const challenges: Challenge[] = [];
  for (;;) {
    skipSeparators(cursor);
    const scheme = cursor.match(TOKEN);
    if (!scheme) break;
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    cursor.skipSpaces();
    const token68 = tryToken68(cursor);
    if (token68 !== undefined) {
      challenge.token68 = token68;
      continue;
    }
    if (!readParams(cursor, challenge.params)) break;
  }
  return challenges;
}

function skipSeparators(cursor: Cursor): void {
  while (!cursor.atEnd() && /[\s,]/.test(cursor.peek()!)) cursor.pos++;
}

/** A token68 is only one if it ends the challenge (end of text or a comma follows). */
function tryToken68(cursor: Cursor): string | undefined {
  const start = cursor.pos;
  const candidate = cursor.match(TOKEN68);
  if (candidate === undefined) return undefined;
  cursor.skipSpaces();
  if (cursor.atEnd() || cursor.peek() === ',') return candidate;
  cursor.pos = start;
  return undefined;
}

/**
 * Reads `name=value` pairs until something that is not a parameter: the next challenge's scheme
 * (left for the caller) or garbage. Returns false when parsing cannot go on.
 */
function readParams(cursor: Cursor, params: Record<string, string>): boolean {
  for (;;) {
    skipSeparators(cursor);
    if (cursor.atEnd()) return false;
    const start = cursor.pos;
    const name = cursor.match(TOKEN);
    if (!name) return false;
    cursor.skipSpaces();
    if (cursor.peek() !== '=') {
      // A bare token: the scheme of the next challenge.
      cursor.pos = start;
      return true;
    }
    cursor.pos++;
    cursor.skipSpaces();
    let paramValue: string | undefined;
    if (cursor.peek() === '"') paramValue = cursor.quoted();
    else paramValue = cursor.match(TOKEN) ?? '';
    if (paramValue === undefined) return false;
    params[name.toLowerCase()] = paramValue;
    cursor.skipSpaces();
  }
}

/** The scopes a Bearer challenge asks for; one `scope` parameter may list several, space-separated. */
export function challengeScopes(challenge: Challenge): string[] {
  return (challenge.params.scope ?? '').split(' ').filter((s) => s !== '');
}
