// Retention durations as written in images.yaml (`30d`, `12h`): one number and one unit.
const UNIT_MS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** Why `text` is not a duration, or null when it is one. */
export function durationProblem(text: string): string | null {
  const match = /^(\d+)([smhdw])$/.exec(text);
  if (!match) return 'a duration is a number and a unit s, m, h, d or w, e.g. 30d';
  const ms = Number(match[1]) * UNIT_MS[match[2]!]!;
  if (!Number.isSafeInteger(ms)) return `duration ${text} is too long`;
  return null;
}

/** Milliseconds in `text`; throws on an invalid duration (check with durationProblem first). */
export function parseDuration(text: string): number {
  const problem = durationProblem(text);
  if (problem) throw new Error(problem);
  const match = /^(\d+)([smhdw])$/.exec(text)!;
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}
