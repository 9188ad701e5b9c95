// Text files arbor renders or builds from (templates, Dockerfiles) must be UTF-8: Node's own
// decoding turns a stray Latin-1 byte into U+FFFD without a word, and the image built from it
// would carry that character.

/** The file's bytes as text; null when they are not valid UTF-8, with the first bad line given. */
export function decodeUtf8(bytes: Buffer): { text: string } | { badLine: number } {
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    let line = 1;
    let start = 0;
    for (;;) {
      const end = bytes.indexOf(0x0a, start);
      const piece = bytes.subarray(start, end < 0 ? bytes.length : end);
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(piece);
      } catch {
        return { badLine: line };
      }
      if (end < 0) return { badLine: line };
      start = end + 1;
      line++;
    }
  }
}
