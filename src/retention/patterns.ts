// Tag patterns of retention rules (keep_tags, expire_tags, tag_pattern), compiled with RE2
// (linear time, no backtracking), as config/check-values.ts validated them at load time.
//
// Anchoring: a pattern is anchored at the start of the tag and, only when it ends with `$`, at
// its end. So `^stable-` and `stable-` both mean "tags starting with stable-" (the example of
// product.md), `\d+\.\d+-p\d+$` means the whole tag, and `stable` never matches `unstable-1`.
import { compileRe2 } from '../re2.js';

/** Does `tag` match `pattern` (start-anchored, see above)? */
export function tagMatches(pattern: string, tag: string): boolean {
  return compileRe2(pattern).matcher(tag).lookingAt();
}

/** The first pattern of `patterns` matching `tag`, or undefined. */
export function firstMatch(patterns: readonly string[], tag: string): string | undefined {
  return patterns.find((p) => tagMatches(p, tag));
}

/** The value of the first capture group when `tag` matches `pattern`, else undefined. */
export function captured(pattern: string, tag: string): string | undefined {
  const matcher = compileRe2(pattern).matcher(tag);
  if (!matcher.lookingAt()) return undefined;
  return matcher.group(1) ?? undefined;
}
