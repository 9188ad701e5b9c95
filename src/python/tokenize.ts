// Python's tokenizer, for the subset of Python that Kolla's configuration modules are written in
// (kolla/common/config.py, users.py, sources.py, kolla/image/kolla_worker.py): names, numbers,
// strings of every kind (raw, bytes, f-strings, triple-quoted, implicitly joined), operators,
// and the NEWLINE / INDENT / DEDENT structure. Comments and line continuations are dropped.

export type TokenType = 'name' | 'number' | 'string' | 'op' | 'newline' | 'indent' | 'dedent' | 'end';

export interface Token {
  type: TokenType;
  value: string;
  line: number;
  col: number;
  /** Strings: the prefix letters, lowercased (`f`, `r`, `rb`, …). */
  prefix?: string;
}

export class PythonSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly col: number,
  ) {
    super(message);
    this.name = 'PythonSyntaxError';
  }
}

const OPERATORS = [
  '**=',
  '//=',
  '>>=',
  '<<=',
  '...',
  '->',
  ':=',
  '**',
  '//',
  '==',
  '!=',
  '<=',
  '>=',
  '<<',
  '>>',
  '+=',
  '-=',
  '*=',
  '/=',
  '%=',
  '&=',
  '|=',
  '^=',
  '@=',
  '+',
  '-',
  '*',
  '/',
  '%',
  '@',
  '&',
  '|',
  '^',
  '~',
  '<',
  '>',
  '(',
  ')',
  '[',
  ']',
  '{',
  '}',
  ',',
  ':',
  '.',
  ';',
  '=',
  '!',
];

const NAME_START = /[A-Za-z_]/;
const NAME_PART = /[A-Za-z0-9_]/;
const STRING_START = /^([rRbBuUfF]{0,2})('''|"""|'|")/;
const NUMBER =
  /^(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?[jJ]?)/;

export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  const indents = [0];
  let depth = 0; // open brackets: newlines inside are not statement ends
  let i = 0;
  let line = 1;
  let lineStart = 0;
  let atLineStart = true;
  const src = source.replace(/\r\n?/g, '\n');

  const push = (type: TokenType, value: string, at: number, extra?: Partial<Token>) =>
    tokens.push({ type, value, line, col: at - lineStart + 1, ...extra });

  while (i < src.length) {
    if (atLineStart && depth === 0) {
      // Measure indentation; blank and comment-only lines do not count.
      let j = i;
      let width = 0;
      while (src[j] === ' ' || src[j] === '\t' || src[j] === '\f') {
        width = src[j] === '\t' ? (Math.floor(width / 8) + 1) * 8 : width + 1;
        j++;
      }
      if (src[j] === '\n' || src[j] === '#' || j >= src.length) {
        while (j < src.length && src[j] !== '\n') j++;
        i = j + 1;
        line++;
        lineStart = i;
        continue;
      }
      if (src[j] === '\\' && src[j + 1] === '\n') {
        i = j;
      } else {
        if (width > indents[indents.length - 1]!) {
          indents.push(width);
          push('indent', '', j);
        }
        while (width < indents[indents.length - 1]!) {
          indents.pop();
          push('dedent', '', j);
        }
        if (width !== indents[indents.length - 1])
          throw new PythonSyntaxError(
            'unindent does not match any outer indentation level',
            line,
            j - lineStart + 1,
          );
        i = j;
      }
      atLineStart = false;
    }
    // Inside brackets a new line continues the statement; its indentation means nothing.
    atLineStart = false;
    const c = src[i]!;
    if (c === '\n') {
      if (depth === 0) push('newline', '\n', i);
      i++;
      line++;
      lineStart = i;
      atLineStart = true;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\f') {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    if (c === '\\' && src[i + 1] === '\n') {
      i += 2;
      line++;
      lineStart = i;
      continue;
    }
    const rest = src.slice(i, i + 4);
    const stringStart = STRING_START.exec(src.slice(i, i + 5));
    if (stringStart && (stringStart[1] === '' || /^[rRbBuUfF]+$/.test(stringStart[1]!))) {
      const prefix = stringStart[1]!.toLowerCase();
      const quote = stringStart[2]!;
      const startLine = line;
      const startCol = i - lineStart + 1;
      i += stringStart[0].length;
      let body = '';
      for (;;) {
        if (i >= src.length) throw new PythonSyntaxError('unterminated string', startLine, startCol);
        if (src.startsWith(quote, i)) {
          i += quote.length;
          break;
        }
        const ch = src[i]!;
        if (ch === '\n') {
          if (quote.length === 1) throw new PythonSyntaxError('unterminated string', startLine, startCol);
          line++;
          lineStart = i + 1;
        }
        if (ch === '\\' && i + 1 < src.length) {
          body += ch + src[i + 1];
          if (src[i + 1] === '\n') {
            line++;
            lineStart = i + 2;
          }
          i += 2;
          continue;
        }
        body += ch;
        i++;
      }
      tokens.push({
        type: 'string',
        value: prefix.includes('r') ? body : unescapePython(body),
        line: startLine,
        col: startCol,
        prefix,
      });
      continue;
    }
    if (NAME_START.test(c)) {
      let j = i + 1;
      while (j < src.length && NAME_PART.test(src[j]!)) j++;
      push('name', src.slice(i, j), i);
      i = j;
      continue;
    }
    if (/\d/.test(c) || (c === '.' && /\d/.test(src[i + 1] ?? ''))) {
      const m = NUMBER.exec(src.slice(i));
      if (m) {
        push('number', m[0], i);
        i += m[0].length;
        continue;
      }
    }
    const op = OPERATORS.find((o) => rest.startsWith(o));
    if (op === undefined)
      throw new PythonSyntaxError(`unexpected character ${JSON.stringify(c)}`, line, i - lineStart + 1);
    if (op === '(' || op === '[' || op === '{') depth++;
    if (op === ')' || op === ']' || op === '}') depth = Math.max(0, depth - 1);
    push('op', op, i);
    i += op.length;
  }
  if (tokens.length > 0 && tokens[tokens.length - 1]!.type !== 'newline') push('newline', '\n', i);
  while (indents.length > 1) {
    indents.pop();
    push('dedent', '', i);
  }
  push('end', '', i);
  return tokens;
}

const ESCAPES: Record<string, string> = {
  n: '\n',
  t: '\t',
  r: '\r',
  '\\': '\\',
  "'": "'",
  '"': '"',
  a: '\x07',
  b: '\b',
  f: '\f',
  v: '\v',
  '0': '\0',
  '\n': '',
};

/** Python's escape sequences in a non-raw string. */
function unescapePython(body: string): string {
  return body.replace(
    /\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{1,3}|[\s\S])/g,
    (m, e: string) => {
      if (/^[xuU]/.test(e) && e.length > 1) return String.fromCodePoint(Number.parseInt(e.slice(1), 16));
      if (/^[0-7]+$/.test(e)) return String.fromCodePoint(Number.parseInt(e, 8));
      return ESCAPES[e] ?? m;
    },
  );
}
