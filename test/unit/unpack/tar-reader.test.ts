// The tar reader on archives written by GNU tar from real files: names that are not UTF-8 keep
// their bytes, binary extended attributes keep theirs, PAX sparse files (0.0, 0.1, 1.0) expand to
// their full content, and an old GNU sparse entry comes out with its real type flag.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { displayName, fsPath } from '../../../src/unpack/entry-path.js';
import { readTar, type TarHeader } from '../../../src/unpack/tar-reader.js';

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'arbor-tar-reader-'));
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The archive in odd-sized chunks, as a network stream delivers it. */
async function* chunks(bytes: Buffer): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += 7001) yield bytes.subarray(i, i + 7001);
}

async function entries(tar: Buffer): Promise<{ header: TarHeader; sha: string; length: number }[]> {
  const out = [];
  for await (const { header, body } of readTar(chunks(tar))) {
    const hash = createHash('sha256');
    let length = 0;
    for await (const c of body) {
      hash.update(c);
      length += c.length;
    }
    out.push({ header, sha: hash.digest('hex'), length });
  }
  return out;
}

function tar(src: string, args: string[], names: string[] = ['.']): Buffer {
  return execFileSync('tar', [...args, '-C', src, '-cf', '-', ...names], { maxBuffer: 64 << 20 });
}

describe('tar reader', () => {
  it('keeps names that are not UTF-8 as their bytes, in ustar, GNU and PAX archives', async () => {
    const src = path.join(dir, 'names');
    mkdirSync(src);
    writeFileSync(fsPath(src, Buffer.from('bad-\xff', 'latin1').toString('latin1')), 'A');
    writeFileSync(fsPath(src, 'bad-\xfe'), 'B');
    writeFileSync(path.join(src, 'n-\ufffd'), 'real U+FFFD');
    const long = `${'d'.repeat(120)}-\xff`;
    writeFileSync(fsPath(src, long), 'long');
    for (const format of ['gnu', 'posix']) {
      const names = (await entries(tar(src, [`--format=${format}`]))).map((e) => e.header.name).sort();
      expect(names, format).toEqual(
        [
          './',
          './bad-\xfe',
          './bad-\xff',
          `./${long}`,
          `./${Buffer.from('n-\ufffd').toString('latin1')}`,
        ].sort(),
      );
    }
    expect(displayName('bad-\xff')).toBe('bad-\\xff');
    expect(displayName(Buffer.from('n-\ufffd\u00e9').toString('latin1'))).toBe('n-\ufffd\u00e9');
  });

  it('keeps binary extended attribute values byte for byte', async () => {
    const src = path.join(dir, 'xattrs');
    mkdirSync(src);
    const file = path.join(src, 'capfile');
    writeFileSync(file, '#!/bin/sh\n');
    const cap = '0x0100000280000000000000000000000000000000';
    execFileSync('setfattr', ['-n', 'user.bin', '-v', '0xfffe0001', file]);
    try {
      execFileSync('setfattr', ['-n', 'security.capability', '-v', cap, file]);
    } catch {
      // Without CAP_SETFCAP only the user attribute is there to check.
    }
    const [entry] = (await entries(
      tar(src, ['--format=posix', '--xattrs', '--xattrs-include=*'], ['capfile']),
    ))!;
    expect(entry!.header.xattrs['user.bin']).toEqual(Buffer.from('fffe0001', 'hex'));
    const capability = entry!.header.xattrs['security.capability'];
    if (capability) expect(capability).toEqual(Buffer.from(cap.slice(2), 'hex'));
  });

  it('expands GNU PAX sparse files of every version to their full content', async () => {
    const src = path.join(dir, 'sparse');
    mkdirSync(src);
    const fd = openSync(path.join(src, 'sparse'), 'w');
    writeSync(fd, 'start', 0);
    writeSync(fd, 'end', 10 * 1024 * 1024);
    const full = readFileSync(path.join(src, 'sparse'));
    const want = createHash('sha256').update(full).digest('hex');
    for (const version of ['0.0', '0.1', '1.0']) {
      const archive = tar(src, ['--sparse', `--sparse-version=${version}`, '--format=posix'], ['sparse']);
      expect(archive.length).toBeLessThan(64 * 1024);
      const [entry] = await entries(archive);
      expect(entry!.header, version).toMatchObject({ name: 'sparse', typeflag: '0', size: full.length });
      expect(entry!.length, version).toBe(full.length);
      expect(entry!.sha, version).toBe(want);
    }
  });

  it('passes an old GNU sparse entry on with its own type flag', async () => {
    const src = path.join(dir, 'sparse');
    const [entry] = await entries(tar(src, ['--sparse', '--format=gnu'], ['sparse']));
    expect(entry!.header).toMatchObject({ name: 'sparse', typeflag: 'S' });
  });
});
