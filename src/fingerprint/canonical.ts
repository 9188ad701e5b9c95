// The canonical byte encoding every fingerprint hash is computed over. One encoding, in one
// place, so "what exactly is hashed" has a single answer.
//
// Encoding: a sequence of netstrings (https://cr.yp.to/proto/netstrings.txt): each field is
// `<decimal byte length>:<UTF-8 bytes>,`. Length prefixes make the concatenation unambiguous:
// no choice of field values can make two different field lists produce the same bytes, so no
// separator or escaping rules are needed.
import { sha256 } from '../sha256.js';

/** Netstring encoding of a list of fields. */
export function encodeFields(fields: readonly string[]): string {
  let out = '';
  for (const field of fields) out += `${Buffer.byteLength(field, 'utf8')}:${field},`;
  return out;
}

/** `sha256:<hex>` of the netstring encoding of `fields`. */
export function hashFields(fields: readonly string[]): string {
  return sha256(encodeFields(fields));
}

/**
 * Byte order of the UTF-8 encodings (what `LC_ALL=C sort` does). JavaScript's `<` compares
 * UTF-16 code units, which disagrees for characters beyond U+FFFF; comparing code points does not.
 */
export function compareBytes(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.charCodeAt(i);
    const cb = b.charCodeAt(i);
    if (ca === cb) continue;
    // Only when a surrogate is involved can UTF-16 order differ from code point (= UTF-8) order.
    if (ca >= 0xd800 || cb >= 0xd800) {
      const pa = a.codePointAt(i) ?? ca;
      const pb = b.codePointAt(i) ?? cb;
      if (pa !== pb) return pa < pb ? -1 : 1;
      continue;
    }
    return ca < cb ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}
