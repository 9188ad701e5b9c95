import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { Gzip } from 'fflate';
import { describe, expect, it } from 'vitest';
import { Digester, LAYER_GZIP, LayerGzip, sameLayerGzip } from '../../../src/layers/gzip.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The definition, written out: fixed pieces into one fflate Gzip, the last one final. */
function reference(input: Buffer): Buffer {
  const out: Buffer[] = [];
  const gzip = new Gzip({ level: LAYER_GZIP.level, mtime: LAYER_GZIP.mtime }, (d) =>
    out.push(Buffer.from(d)),
  );
  const step = LAYER_GZIP.chunkBytes;
  if (input.length === 0) gzip.push(new Uint8Array(0), true);
  for (let at = 0; at < input.length; at += step)
    gzip.push(input.subarray(at, at + step), at + step >= input.length);
  return Buffer.concat(out);
}

/** Streams `input` cut at the given sizes through LayerGzip. */
async function compress(input: Buffer, cuts: number[]): Promise<{ out: Buffer; gzip: LayerGzip }> {
  const pieces: Buffer[] = [];
  let at = 0;
  for (const cut of cuts) {
    if (at >= input.length) break;
    pieces.push(input.subarray(at, at + cut));
    at += cut;
  }
  if (at < input.length) pieces.push(input.subarray(at));
  const gzip = new LayerGzip();
  const [out] = await Promise.all([buffer(gzip), pipeline(Readable.from(pieces), gzip)]);
  return { out, gzip };
}

// Compressible but not trivial: text-like lines with random numbers.
function sample(size: number, seed: number): Buffer {
  const lines: string[] = [];
  let x = seed;
  let length = 0;
  while (length < size) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const line = `usr/lib/python3/dist-packages/module${x % 997}/file${x % 31}.py ${x}\n`;
    lines.push(line);
    length += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, size);
}

describe('deterministic layer gzip', () => {
  it('gives the reference bytes however the input is cut, for small and multi-piece layers', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(
          0,
          1,
          1000,
          LAYER_GZIP.chunkBytes,
          LAYER_GZIP.chunkBytes + 1,
          3 * LAYER_GZIP.chunkBytes + 77,
        ),
        fc.array(fc.integer({ min: 1, max: 700_000 }), { minLength: 1, maxLength: 12 }),
        async (size, cuts) => {
          const input = sample(size, size + 1);
          const { out, gzip } = await compress(input, cuts);
          expect(sha256(out)).toBe(sha256(reference(input)));
          expect(gunzipSync(out).equals(input)).toBe(true);
          expect(gzip.diffId).toBe(sha256(input));
          expect(gzip.uncompressedSize).toBe(size);
        },
      ),
      { numRuns: 20 },
    );
  });

  it('compresses incompressible data too, and the same bytes twice give the same digest', async () => {
    const input = randomBytes(2 * LAYER_GZIP.chunkBytes + 5);
    const a = await compress(input, [4096]);
    const b = await compress(input, [LAYER_GZIP.chunkBytes * 3]);
    expect(a.out.equals(b.out)).toBe(true);
    expect(gunzipSync(a.out).equals(input)).toBe(true);
  });

  it('names the fflate version it is pinned to', () => {
    const require = createRequire(import.meta.url);
    const version = JSON.parse(readFileSync(require.resolve('fflate/package.json'), 'utf8')).version;
    expect(LAYER_GZIP.implementation).toBe(`fflate@${version}`);
    expect(sameLayerGzip({ ...LAYER_GZIP })).toBe(true);
    expect(sameLayerGzip({ ...LAYER_GZIP, level: 9 })).toBe(false);
    expect(sameLayerGzip(null)).toBe(false);
  });

  it('Digester counts and hashes what passes', async () => {
    const input = randomBytes(12345);
    const d = new Digester();
    const [out] = await Promise.all([buffer(d), pipeline(Readable.from([input]), d)]);
    expect(out.equals(input)).toBe(true);
    expect(d.digest).toBe(sha256(input));
    expect(d.size).toBe(12345);
  });
});
