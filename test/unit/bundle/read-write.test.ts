// A bundle written to disk and read back in one pass: the head (small files, manifests, configs)
// first, then the streamed blobs at the offsets the file really holds them; damaged files fail
// with one error naming the entry, and an interrupted write leaves nothing under the final name.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleLayout } from '../../../src/bundle/layout.js';
import { openBundle } from '../../../src/bundle/read.js';
import { writeBundle } from '../../../src/bundle/write.js';
import { tarOf } from '../../support/tar-image.js';
import { ContentBuilder, fakeArtifact, fakeImage, sha256 } from './fixtures.js';

let dir: string;
let file: string;
let built: ContentBuilder;

async function write(target: string, b: ContentBuilder, openBlob?: (digest: string) => Readable) {
  const layout = bundleLayout(b.content, { source: 'test' });
  return writeBundle({
    file: target,
    layout,
    content: b.content,
    openBlob: (blob) => openBlob?.(blob.digest) ?? Readable.from([b.blobs.get(blob.digest)!]),
  });
}

async function readAll(target: string) {
  const bundle = await openBundle(target);
  const blobs: { digest: string; offset: number; bytes: Buffer }[] = [];
  for await (const passing of bundle.blobs()) {
    const chunks: Buffer[] = [];
    for await (const c of passing.stream) chunks.push(c as Buffer);
    blobs.push({ digest: passing.blob.digest, offset: passing.offset, bytes: Buffer.concat(chunks) });
  }
  return { head: bundle.head, blobs };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'arbor-bundle-unit-'));
  file = path.join(dir, 'b.tar');
  const shared = randomBytes(70_000);
  const a = fakeImage([shared, randomBytes(513)]);
  const b = fakeImage([shared, Buffer.alloc(0), randomBytes(1024)]);
  built = new ContentBuilder()
    .addImage(a)
    .addImage(b)
    .addArtifact(fakeArtifact(a.manifest, Buffer.from('{"sbom":true}')))
    .name('a', a.manifest.digest, ['1', '2'])
    .name('b', b.manifest.digest, ['1']);
  await write(file, built);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('a bundle read back', () => {
  it('gives the images, tags, manifests, configs and referrers from its head', async () => {
    const bundle = await openBundle(file);
    bundle.close();
    const { content, toc } = bundle.head;
    expect(content.images.map((i) => [i.name, i.tags, i.digest])).toEqual(
      built.content.images
        .map((i) => [i.name, i.tags, i.digest])
        .sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    );
    expect([...content.manifests.keys()].sort()).toEqual([...built.content.manifests.keys()].sort());
    expect([...content.configs.keys()].sort()).toEqual([...built.content.configs.keys()].sort());
    expect(content.referrers).toEqual(built.content.referrers);
    expect(toc.source).toBe('test');
  });

  it('streams each other blob with its bytes and the offset the file holds it at', async () => {
    const { blobs } = await readAll(file);
    const whole = readFileSync(file);
    expect(blobs.map((b) => b.digest).sort()).toEqual([...built.blobs.keys()].sort());
    for (const blob of blobs) {
      expect(sha256(blob.bytes)).toBe(blob.digest);
      expect(whole.subarray(blob.offset, blob.offset + blob.bytes.length).equals(blob.bytes)).toBe(true);
    }
  });

  it('refuses a blob whose bytes were altered, naming the entry', async () => {
    const { blobs } = await readAll(file);
    const victim = blobs.find((b) => b.bytes.length > 1000)!;
    const bytes = readFileSync(file);
    bytes[victim.offset + 500]! ^= 0xff;
    const altered = path.join(dir, 'altered.tar');
    writeFileSync(altered, bytes);
    await expect(readAll(altered)).rejects.toThrow(
      `altered.tar: blobs/sha256/${victim.digest.slice(7)} does not match its digest`,
    );
  });

  it('refuses an altered manifest before yielding anything', async () => {
    const bytes = readFileSync(file);
    const manifest = [...built.content.manifests.values()][0]!;
    const at = bytes.indexOf(manifest.bytes);
    bytes[at + 10] = bytes[at + 10] === 0x61 ? 0x62 : 0x61;
    const altered = path.join(dir, 'altered-manifest.tar');
    writeFileSync(altered, bytes);
    await expect(openBundle(altered)).rejects.toThrow(
      `blobs/sha256/${manifest.digest.slice(7)} does not match its digest`,
    );
  });

  it('says where a truncated file ends: inside an entry, or before one', async () => {
    const { blobs } = await readAll(file);
    const whole = readFileSync(file);
    const big = blobs.find((b) => b.bytes.length === 70_000)!;
    const inside = path.join(dir, 'cut-inside.tar');
    writeFileSync(inside, whole.subarray(0, big.offset + 1000));
    await expect(readAll(inside)).rejects.toThrow(
      `cut-inside.tar: truncated: the file ends inside blobs/sha256/${big.digest.slice(7)}`,
    );
    const last = blobs.at(-1)!;
    const before = path.join(dir, 'cut-before.tar');
    // Up to the header of the last blob: a clean tar end, one blob short.
    writeFileSync(before, whole.subarray(0, last.offset - 512));
    await expect(readAll(before)).rejects.toThrow(
      `cut-before.tar: truncated: the file ends before blobs/sha256/${last.digest.slice(7)}`,
    );
    const head = path.join(dir, 'cut-head.tar');
    writeFileSync(head, whole.subarray(0, 1600));
    await expect(openBundle(head)).rejects.toThrow(
      /cut-head\.tar: truncated: the file ends inside index\.json/,
    );
  });

  it('refuses what is not a bundle with one clear line', async () => {
    const gz = path.join(dir, 'b.tar.gz');
    writeFileSync(gz, gzipSync(readFileSync(file)));
    await expect(openBundle(gz)).rejects.toThrow(
      'b.tar.gz: the file is gzip-compressed; a bundle is a plain tar',
    );
    const text = path.join(dir, 'notes.txt');
    writeFileSync(text, 'hello\n'.repeat(200));
    await expect(openBundle(text)).rejects.toThrow(/notes\.txt: not a tar archive/);
    const empty = path.join(dir, 'empty.tar');
    writeFileSync(empty, '');
    await expect(openBundle(empty)).rejects.toThrow('empty.tar: the file is empty, not a bundle');
    await expect(openBundle(path.join(dir, 'absent.tar'))).rejects.toThrow(
      'absent.tar: cannot read the bundle (ENOENT)',
    );
    // An OCI archive arbor did not write (skopeo's, docker 25's): no table of contents.
    const foreign = path.join(dir, 'foreign.tar');
    writeFileSync(
      foreign,
      await tarOf([
        { name: 'oci-layout', content: '{"imageLayoutVersion":"1.0.0"}' },
        { name: 'index.json', content: '{"schemaVersion":2,"manifests":[]}' },
        { name: 'blobs/sha256/', type: 'directory' },
      ]),
    );
    await expect(openBundle(foreign)).rejects.toThrow(
      'foreign.tar: not an arbor bundle: no arbor-bundle.json at its start',
    );
    const dockerSave = path.join(dir, 'docker-save.tar');
    writeFileSync(
      dockerSave,
      await tarOf([
        { name: 'abc123/', type: 'directory' },
        { name: 'manifest.json', content: '[]' },
      ]),
    );
    await expect(openBundle(dockerSave)).rejects.toThrow(
      'docker-save.tar: not an arbor bundle: unexpected entry "abc123/" before the blobs',
    );
  });

  it('leaves nothing under the final name (nor a temporary file) when a blob cannot be read', async () => {
    const target = path.join(dir, 'failed.tar');
    const victim = [...built.blobs.keys()][0]!;
    await expect(
      write(target, built, (digest) =>
        digest === victim
          ? new Readable({
              read() {
                this.destroy(new Error('registry went away'));
              },
            })
          : Readable.from([built.blobs.get(digest)!]),
      ),
    ).rejects.toThrow('registry went away');
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('failed.tar'))).toEqual([]);
  });

  it('writes the same bytes twice', async () => {
    const again = path.join(dir, 'again.tar');
    const one = await write(again, built);
    expect(one.sha256).toBe(sha256(readFileSync(file)));
    expect(readFileSync(again).equals(readFileSync(file))).toBe(true);
  });
});
