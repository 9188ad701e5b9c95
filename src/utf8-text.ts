// Text files arbor reads must be UTF-8: Node's own decoding turns a stray Latin-1 byte into
// U+FFFD without a word, and a template or Dockerfile built from it would carry that character.
// images.yaml (config/load.ts) and templates share these.

/** The bytes as text, or the line of the first byte that is not UTF-8. */
export function decodeUtf8(bytes: Buffer): { text: string } | { badLine: number } {
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) };
  } catch {
    return { badLine: lineAndColumn(bytes, firstInvalidUtf8(bytes)).line };
  }
}

/** Offset of the first byte that is not part of valid UTF-8 (the bytes are known to hold one). */
export function firstInvalidUtf8(bytes: Buffer): number {
  // Halving keeps it fast on a large file. A prefix decoded as a stream holds no invalid byte
  // when it decodes (a character cut at its end is held back, not an error).
  const decodes = (end: number) => {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, end), { stream: true });
      return true;
    } catch {
      return false;
    }
  };
  let good = 0;
  let bad = bytes.length;
  while (bad - good > 1) {
    const middle = Math.floor((good + bad) / 2);
    if (decodes(middle)) good = middle;
    else bad = middle;
  }
  // The shortest failing prefix ends with the byte that made it fail: a byte that can never
  // start a character, or one that cannot continue the character begun before it (then the
  // character's first byte is where the problem is).
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, good));
    return good;
  } catch {
    let start = good - 1;
    while (start > 0 && (bytes[start]! & 0xc0) === 0x80) start--;
    return start;
  }
}

/** 1-based line and column (in bytes) of a byte offset. */
export function lineAndColumn(bytes: Buffer, offset: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = bytes.indexOf(10); i >= 0 && i < offset; i = bytes.indexOf(10, i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, col: offset - lineStart + 1 };
}
