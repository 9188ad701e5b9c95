import { describe, expect, it } from 'vitest';
import { hashFields } from '../../../src/fingerprint/canonical.js';
import { explainLines } from '../../../src/fingerprint/explain.js';
import {
  decodeInputsLabel,
  diffInputs,
  encodeInputsLabel,
  INPUTS_LABEL,
  inputsMap,
} from '../../../src/fingerprint/inputs-label.js';
import type { FingerprintInput, InputKind } from '../../../src/fingerprint/model.js';

const input = (kind: InputKind, name: string, value: string): FingerprintInput => ({
  kind,
  name,
  hash: hashFields([value]),
});

const KEYSTONE: FingerprintInput[] = [
  input('args', 'KEYSTONE_VERSION', '27.0.0'),
  input('base', 'debian:12', 'd1'),
  input('context', 'app/run.sh', 'run'),
  input('context', 'app/conf', 'conf'),
  input('dockerfile', '-', 'FROM x'),
  input('env', 'KEYSTONE_PIN', 'set:1'),
  input('file', 'lists/keystone.pip.txt', 'pip'),
  input('format', '-', '1'),
  input('parent', 'keystone-base', 'fp1'),
  input('platforms', '-', ''),
];

function replace(inputs: FingerprintInput[], kind: InputKind, name: string, value: string) {
  return inputs.map((i) => (i.kind === kind && i.name === name ? input(kind, name, value) : i));
}

describe('inputs label', () => {
  it('is named org.arbor.inputs and round-trips to the same map as the current inputs', () => {
    expect(INPUTS_LABEL).toBe('org.arbor.inputs');
    const decoded = decodeInputsLabel(encodeInputsLabel(KEYSTONE));
    expect(decoded).toEqual(inputsMap(KEYSTONE));
    expect(decoded!.get('args:KEYSTONE_VERSION')).toBe(KEYSTONE[0]!.hash.slice(7, 23));
  });

  it('keeps only aggregates for a bulky context, and stays small', () => {
    const many = [
      ...KEYSTONE,
      ...Array.from({ length: 5000 }, (_, i) => input('context', `static/file-${i}.css`, `${i}`)),
    ];
    const label = encodeInputsLabel(many);
    expect(label.length).toBeLessThan(2000);
    const decoded = decodeInputsLabel(label)!;
    expect(decoded.get('@context-listed')).toBe('0');
    expect([...decoded.keys()].some((k) => k.startsWith('context:'))).toBe(false);
    expect(decoded.get('file:lists/keystone.pip.txt')).toBeDefined();
  });

  it('decodes garbage, other versions and malformed entries to null', () => {
    for (const text of [
      '',
      'not json',
      '[]',
      '{"v":2,"i":{},"a":{},"l":{}}',
      '{"v":1}',
      '{"v":1,"i":{"x:y":"zz"},"a":{},"l":{}}',
    ])
      expect(decodeInputsLabel(text)).toBeNull();
  });
});

describe('diffInputs', () => {
  const previous = decodeInputsLabel(encodeInputsLabel(KEYSTONE))!;

  it('says nothing when nothing changed', () => {
    expect(diffInputs(KEYSTONE, previous)).toEqual([]);
  });

  it('names each changed input in human words', () => {
    let now = replace(KEYSTONE, 'file', 'lists/keystone.pip.txt', 'pip2');
    now = replace(now, 'args', 'KEYSTONE_VERSION', '28.0.0');
    now = replace(now, 'env', 'KEYSTONE_PIN', 'set:2');
    now = replace(now, 'dockerfile', '-', 'FROM y');
    now = replace(now, 'base', 'debian:12', 'd2');
    now = replace(now, 'parent', 'keystone-base', 'fp2');
    now = now.filter((i) => i.name !== 'app/conf');
    now.push(input('context', 'app/new.py', 'new'));
    expect(diffInputs(now, previous)).toEqual([
      'build arg KEYSTONE_VERSION changed',
      'base debian:12 changed',
      'context file app/conf removed',
      'context file app/new.py added',
      'Dockerfile changed',
      'env KEYSTONE_PIN changed',
      'input lists/keystone.pip.txt changed',
      'parent fingerprint changed',
    ]);
  });

  it('summarises long lists, and compares a bulky context as a whole when the label held only that', () => {
    const before = [
      ...KEYSTONE,
      ...Array.from({ length: 150 }, (_, i) => input('context', `s/${i}`, `${i}`)),
    ];
    const after = before.map((i) => (i.kind === 'context' ? { ...i, hash: hashFields([`${i.hash}!`]) } : i));
    expect(diffInputs(after, decodeInputsLabel(encodeInputsLabel(before))!)).toEqual([
      'build context changed',
    ]);
    const listed = new Map([...inputsMap(before)]);
    const reasons = diffInputs(after, listed);
    expect(reasons).toHaveLength(11);
    expect(reasons[10]).toBe('142 more context file changes');
  });
});

describe('explainLines', () => {
  const image = { inputs: KEYSTONE, parentRef: '127.0.0.1:5000/os/keystone-base:fp-0123' };

  it('lists every input with its full hash', () => {
    const lines = explainLines(image);
    expect(lines).toHaveLength(KEYSTONE.length);
    for (const [i, line] of lines.entries()) {
      expect(line).toContain(KEYSTONE[i]!.hash);
      expect(line).toContain(KEYSTONE[i]!.name);
    }
    expect(lines.find((l) => l.startsWith('parent'))).toContain(
      '(FROM 127.0.0.1:5000/os/keystone-base:fp-0123)',
    );
  });

  it('marks what differs from the registry, including removed inputs', () => {
    const previous = decodeInputsLabel(
      encodeInputsLabel([...replace(KEYSTONE, 'env', 'KEYSTONE_PIN', 'set:0'), input('labels', 'team', 'x')]),
    );
    const lines = explainLines(image, previous);
    expect(lines.filter((l) => l.includes('[changed]'))).toEqual([
      expect.stringMatching(/^env\s.*KEYSTONE_PIN/),
    ]);
    expect(lines.filter((l) => l.includes('[removed]'))).toEqual([expect.stringMatching(/^labels\s.*team/)]);
    expect(lines.at(-1)).toBe('2 input(s) differ from the registry');
    expect(explainLines(image, decodeInputsLabel(encodeInputsLabel(KEYSTONE))).at(-1)).toBe(
      'every input matches the registry',
    );
  });
});
