// Reading an image archive as it streams: small JSON kept, layers written or compressed, layers
// the caller knows only hashed — and a layer whose size is known but whose bytes are not (tiny
// layers' sizes collide) kept after all, so the export is not repeated.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { readImageArchive } from '../../../src/execute/export/image-tar.js';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function archive(entries: Record<string, Buffer>): Promise<Readable> {
  const pack = tar.pack();
  for (const [name, body] of Object.entries(entries)) pack.entry({ name }, body);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Readable.from([Buffer.concat(chunks)]);
}

describe('readImageArchive', () => {
  const a = Buffer.alloc(1536, 'a');
  const b = Buffer.alloc(1536, 'b');
  const big = Buffer.alloc(5 * 1024 * 1024 + 3, 'c');

  it('hashes known layers only, keeps an unknown one of a known size, compresses layers when asked', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arbor-image-tar-'));
    const contents = await readImageArchive(
      await archive({
        'manifest.json': Buffer.from('[]'),
        'l1/layer.tar': a,
        'l2/layer.tar': b,
        'x/blob': b,
      }),
      { workDir: dir, compressInto: dir, known: new Map([[1536, new Set([sha256(a)])]]) },
    );
    expect(contents.small.get('manifest.json')?.toString()).toBe('[]');
    // Known: hashed, no bytes kept.
    expect(contents.spooled.get('l1/layer.tar')).toEqual({ digest: sha256(a), size: 1536 });
    // Same size, other bytes: compressed after all (a layer), or written as it is (anything else).
    const l2 = contents.spooled.get('l2/layer.tar')!;
    expect([l2.digest, l2.size, l2.file]).toEqual([sha256(b), 1536, undefined]);
    const gz = await readFile(l2.compressed!.file);
    expect([sha256(gz), gz.length]).toEqual([l2.compressed!.digest, l2.compressed!.size]);
    expect(gunzipSync(gz).equals(b)).toBe(true);
    const blob = contents.spooled.get('x/blob')!;
    expect(blob.compressed).toBeUndefined();
    expect((await readFile(blob.file!)).equals(b)).toBe(true);
  });

  it('a big layer of a known size but unknown bytes is left without bytes (the caller exports again)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arbor-image-tar-'));
    const contents = await readImageArchive(await archive({ 'l/layer.tar': big }), {
      workDir: dir,
      known: new Map([[big.length, new Set(['sha256:other'])]]),
    });
    expect(contents.spooled.get('l/layer.tar')).toEqual({ digest: sha256(big), size: big.length });
  });
});
