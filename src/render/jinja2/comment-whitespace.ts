// Jinja2's trim_blocks and lstrip_blocks apply to comment tags too: `{# note #}` alone on its
// line leaves nothing, as a block tag does (the end of a raw block: parser.ts, parseRaw).
// Nunjucks' lexer applies both to block tags only, so a comment added on a line of its own left
// an empty line in the Dockerfile (and rebuilt every image using the template). This wraps the
// lexer's token stream and trims the data around those tags the way Jinja2's lexer does.

import { lexer, type Token } from './nunjucks-parts.js';

interface TokenStream {
  nextToken(): Token | null;
}

interface WhitespaceOptions {
  trimBlocks?: boolean;
  lstripBlocks?: boolean;
}

/** The data ends with a line holding only spaces and tabs (the comment tag starts that line). */
const TRAILING_INDENT = /(^|\n)[ \t]+$/;

export function jinja2CommentWhitespace(tokens: TokenStream, opts: WhitespaceOptions | undefined): void {
  const trim = opts?.trimBlocks === true;
  const lstrip = opts?.lstripBlocks === true;
  if (!trim && !lstrip) return;
  const next = tokens.nextToken.bind(tokens);
  let ahead: Token | null | undefined;
  const pull = () => {
    if (ahead !== undefined) {
      const tok = ahead;
      ahead = undefined;
      return tok;
    }
    return next();
  };
  let dropNewline = false;
  tokens.nextToken = () => {
    const tok = pull();
    if (!tok) return tok;
    if (tok.type === lexer.TOKEN_DATA) {
      if (dropNewline) tok.value = String(tok.value).replace(/^\r?\n/, '');
      dropNewline = false;
      if (lstrip) {
        // One token of lookahead: whether a comment starts right after this data.
        ahead = next();
        const text = String(tok.value);
        const atLineStart = text.includes('\n') || tok.colno === 0;
        if (ahead?.type === lexer.TOKEN_COMMENT && atLineStart && TRAILING_INDENT.test(text))
          tok.value = text.replace(/[ \t]+$/, '');
      }
      return tok;
    }
    dropNewline = tok.type === lexer.TOKEN_COMMENT && trim;
    return tok;
  };
}
