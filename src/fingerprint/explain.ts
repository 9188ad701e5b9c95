// `arbor explain IMAGE`: every input of an image's fingerprint with its hash, one per line, and
// which of them differ from the inputs recorded in the registry's image (its inputs label).
// Environment values are never shown, only their hashes.
import type { FingerprintedImage } from './compute.js';
import { compareInputs, type InputsMap } from './inputs-label.js';
import type { FingerprintInput } from './model.js';

type Explained = Pick<FingerprintedImage, 'inputs' | 'parentRef'>;

export function explainLines(image: Explained, previous?: InputsMap | null): string[] {
  const comparison = previous ? compareInputs(image.inputs, previous) : null;
  const kindWidth = Math.max(...image.inputs.map((i) => i.kind.length));
  const lines = image.inputs.map((input) => {
    const mark = comparison?.changes.get(`${input.kind}:${input.name}`);
    const columns = [input.kind.padEnd(kindWidth), input.hash, describe(input, image.parentRef)];
    if (mark) columns.push(`[${mark}]`);
    return columns.join('  ');
  });
  if (!comparison) return lines;
  for (const [key, change] of comparison.changes) {
    if (change !== 'removed') continue;
    const colon = key.indexOf(':');
    const hashWidth = image.inputs[0]?.hash.length ?? 0;
    lines.push(
      [key.slice(0, colon).padEnd(kindWidth), '-'.padEnd(hashWidth), key.slice(colon + 1), '[removed]'].join(
        '  ',
      ),
    );
  }
  for (const kind of comparison.wholesale)
    lines.push(`(the registry's image records its ${kind} inputs only as a whole: they differ)`);
  const differing = comparison.changes.size + comparison.wholesale.length;
  lines.push(
    differing === 0 ? 'every input matches the registry' : `${differing} input(s) differ from the registry`,
  );
  return lines;
}

function describe(input: FingerprintInput, parentRef: string | null): string {
  if ((input.kind === 'parent' || input.kind === 'base') && parentRef)
    return `${input.name} (FROM ${parentRef})`;
  return input.name;
}
