// The delta encodings compared on a pair of real layer tars (old → new): size of the delta, the
// publisher's time, CPU and memory to make it, the site's time and memory to rebuild the new tar,
// and whether the rebuilt tar is byte-identical. Tools run under /usr/bin/time (wall, user, sys,
// max RSS). Encodings that have no tool here are emulated, and say so:
//   - tar-diff (containers/tar-diff): per-file bsdiff against the same path (or a unique file of
//     the same name) in the old tar, files found unchanged anywhere in the old tar referenced, the
//     rest and every header literal; literal stream through zstd -3 (tar-diff's default level),
//     bsdiff patches (Debian's bsdiff, bzip2 inside) added as they are. Go and its module proxy are
//     not reachable here, so tar-diff itself cannot be built.
//   - content-defined chunks (casync/zchunk style): gear-hash chunking (min 16 KiB, average
//     64 KiB, max 256 KiB), chunks of the new tar absent from the old sent (zstd -19 --long as one
//     stream, which flatters this method), plus the new tar's chunk index (32-byte hash + 4-byte
//     length per chunk, zstd-compressed).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';

/** Runs a command under /usr/bin/time; its stdout goes to `stdout` (a path) when given. */
export function timed(command, args, { stdout } = {}) {
  const script = stdout ? `exec "$0" "$@" > '${stdout}'` : 'exec "$0" "$@"';
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S %M', 'sh', '-c', script, command, ...args], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const lines = r.stderr.trim().split('\n');
  const [wall, user, sys, rssKb] = (lines.at(-1) ?? '').split(' ').map(Number);
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { wallS: wall, cpuS: Math.round((user + sys) * 100) / 100, maxRssMB: Math.round(rssKb / 1024) };
}

export async function sha256File(path) {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

const size = async (path) => (await stat(path)).size;

/** A CLI encoder/decoder pair: encode old+new → delta, decode old+delta → new (compared). */
async function cliEncoding(name, dir, pair, { encode, decode }) {
  const delta = join(dir, `${name}.delta`);
  const rebuilt = join(dir, `${name}.rebuilt`);
  const made = timed(...encode(delta));
  const [command, args] = decode(delta);
  const rebuild = timed(command, args, { stdout: rebuilt });
  const exact = (await sha256File(rebuilt)) === pair.newSha256;
  const result = { encoding: name, deltaBytes: await size(delta), publish: made, site: rebuild, exact };
  await rm(delta, { force: true });
  await rm(rebuilt, { force: true });
  return result;
}

export function zstdArbor(zstd) {
  return (dir, pair) => {
    const p = zstd.patchParameters(pair.oldBytes, pair.newBytes);
    return cliEncoding('zstd --patch-from (arbor: -19, btlazy2, tables sized to the window)', dir, pair, {
      encode: (delta) => ['zstd', zstd.computeArguments(pair.old, pair.new, delta, p)],
      decode: (delta) => ['zstd', zstd.applyArguments(pair.old, delta, p.windowLog)],
    });
  };
}

export function zstdPlain(level, windowLog) {
  return (dir, pair) =>
    cliEncoding(`zstd -${level} --long=${windowLog} --patch-from`, dir, pair, {
      encode: (delta) => [
        'zstd',
        [`-${level}`, '-q', '-f', `--long=${windowLog}`, `--patch-from=${pair.old}`, pair.new, '-o', delta],
      ],
      decode: (delta) => [
        'zstd',
        ['-d', '-q', '-c', `--long=${windowLog}`, `--patch-from=${pair.old}`, delta],
      ],
    });
}

export function xdelta3(windowLog) {
  const window = String(2 ** windowLog);
  return (dir, pair) =>
    cliEncoding(`xdelta3 -9 -B ${window}`, dir, pair, {
      encode: (delta) => ['xdelta3', ['-e', '-f', '-9', '-B', window, '-s', pair.old, pair.new, delta]],
      decode: (delta) => ['xdelta3', ['-d', '-c', '-B', window, '-s', pair.old, delta]],
    });
}

/** Regular files of a tar, streamed: calls `onFile(header, content Buffer)` per file, `onOther(header)` else. */
async function eachEntry(tarPath, onFile, onOther = () => {}) {
  const ex = extract();
  ex.on('entry', (header, stream, next) => {
    if (header.type !== 'file') {
      onOther(header);
      stream.resume();
      stream.on('end', next);
      return;
    }
    const chunks = [];
    stream.on('data', (c) => chunks.push(c));
    stream.on('end', () => {
      Promise.resolve(onFile(header, Buffer.concat(chunks))).then(() => next(), next);
    });
  });
  await pipeline(createReadStream(tarPath), ex);
}

/** CPU seconds of this process (all threads) plus its waited-for children (Linux /proc). */
export const cpuNow = () => {
  const self = process.cpuUsage();
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // cutime, cstime: CPU of waited-for children, in clock ticks (100 per second on Linux).
  const children = (Number(fields[13]) + Number(fields[14])) / 100;
  return (self.user + self.system) / 1e6 + children;
};

/** CPU seconds (this process and its children) and wall seconds of `work`. */
export async function measured(work) {
  const cpu = cpuNow();
  const started = performance.now();
  const value = await work();
  return { value, wallS: (performance.now() - started) / 1000, cpuS: cpuNow() - cpu };
}

export async function tarDiffEmulated(dir, pair) {
  const work = join(dir, 'tardiff');
  await mkdir(work, { recursive: true });
  const literal = join(work, 'literal');
  const run = await measured(async () => {
    const oldBySha = new Set();
    const oldByPath = new Map();
    const oldByName = new Map();
    await eachEntry(pair.old, (h, content) => {
      const sha = createHash('sha1').update(content).digest('hex');
      oldBySha.add(sha);
      oldByPath.set(h.name, content.length);
      const name = basename(h.name);
      oldByName.set(name, oldByName.has(name) ? null : h.name);
    });
    const out = createWriteStream(literal);
    const write = (b) => new Promise((resolve) => (out.write(b) ? resolve() : out.once('drain', resolve)));
    const wanted = new Map();
    let n = 0;
    await eachEntry(
      pair.new,
      async (h, content) => {
        await write(JSON.stringify({ ...h, mtime: h.mtime?.getTime() }));
        const sha = createHash('sha1').update(content).digest('hex');
        if (oldBySha.has(sha)) return write(`copy ${h.name}\n`);
        const from = oldByPath.has(h.name) ? h.name : oldByName.get(basename(h.name));
        if (!from) return write(content);
        const id = n++;
        await writeFile(join(work, `new-${id}`), content);
        wanted.set(from, [...(wanted.get(from) ?? []), id]);
        return write(`bsdiff ${from} ${id}\n`);
      },
      (h) => out.write(JSON.stringify({ ...h, mtime: h.mtime?.getTime() })),
    );
    await new Promise((resolve) => out.end(resolve));
    await eachEntry(pair.old, async (h, content) => {
      for (const id of wanted.get(h.name) ?? []) await writeFile(join(work, `old-${id}`), content);
    });
    let patches = 0;
    let patchedFiles = 0;
    for (let id = 0; id < n; id++) {
      const r = spawnSync('bsdiff', [
        join(work, `old-${id}`),
        join(work, `new-${id}`),
        join(work, `patch-${id}`),
      ]);
      if (r.status !== 0) throw new Error(`bsdiff: ${r.stderr}`);
      patches += await size(join(work, `patch-${id}`));
      patchedFiles++;
    }
    spawnSync('zstd', ['-3', '-q', '-f', literal, '-o', `${literal}.zst`]);
    return { patches, patchedFiles, literal: await size(`${literal}.zst`), literalRaw: await size(literal) };
  });
  // The site: bspatch every patched file, and decompress the literal stream.
  const site = await measured(async () => {
    for (let id = 0; id < run.value.patchedFiles; id++)
      spawnSync('bspatch', [join(work, `old-${id}`), join(work, `out-${id}`), join(work, `patch-${id}`)]);
    spawnSync('zstd', ['-d', '-q', '-f', `${literal}.zst`, '-o', `${literal}.out`]);
  });
  await rm(work, { recursive: true, force: true });
  return {
    encoding: 'tar-diff, emulated (per-file bsdiff + zstd -3)',
    deltaBytes: run.value.patches + run.value.literal,
    detail: {
      bsdiffFiles: run.value.patchedFiles,
      bsdiffBytes: run.value.patches,
      literalBytes: run.value.literal,
    },
    publish: { wallS: round(run.wallS), cpuS: round(run.cpuS), maxRssMB: null },
    site: {
      wallS: round(site.wallS),
      cpuS: round(site.cpuS),
      maxRssMB: null,
      note: 'bspatch + zstd -d only; tar assembly not included',
    },
    exact: null,
  };
}

const round = (x) => Math.round(x * 100) / 100;

function gearTable() {
  const table = new Uint32Array(256);
  let x = 0x9e3779b9;
  for (let i = 0; i < 256; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    table[i] = x >>> 0;
  }
  return table;
}

/** Content-defined chunks of a file: calls onChunk(Buffer) for each. */
async function chunks(path, onChunk) {
  const gear = gearTable();
  const MIN = 16 * 1024;
  const MAX = 256 * 1024;
  const MASK = 0xffff; // average 64 KiB past the minimum
  let parts = [];
  let length = 0;
  let hash = 0;
  for await (const data of createReadStream(path, { highWaterMark: 1 << 20 })) {
    let start = 0;
    for (let i = 0; i < data.length; i++) {
      length++;
      hash = ((hash << 1) + gear[data[i]]) >>> 0;
      if ((length >= MIN && (hash & MASK) === 0) || length >= MAX) {
        parts.push(data.subarray(start, i + 1));
        await onChunk(Buffer.concat(parts));
        parts = [];
        length = 0;
        hash = 0;
        start = i + 1;
      }
    }
    if (start < data.length) parts.push(data.subarray(start));
  }
  if (parts.length > 0) await onChunk(Buffer.concat(parts));
}

export async function contentDefinedChunks(dir, pair) {
  const literal = join(dir, 'cdc-literal');
  const index = join(dir, 'cdc-index');
  const run = await measured(async () => {
    const known = new Set();
    await chunks(pair.old, (c) => known.add(createHash('sha256').update(c).digest('hex')));
    const out = createWriteStream(literal);
    const recipe = [];
    let total = 0;
    let sent = 0;
    await chunks(pair.new, async (c) => {
      const h = createHash('sha256').update(c).digest();
      recipe.push(h, Buffer.from(Uint32Array.of(c.length).buffer));
      total++;
      if (known.has(h.toString('hex'))) return;
      known.add(h.toString('hex'));
      sent++;
      if (!out.write(c)) await new Promise((r) => out.once('drain', r));
    });
    await new Promise((r) => out.end(r));
    await writeFile(index, Buffer.concat(recipe));
    spawnSync('zstd', ['-19', '--long=27', '-q', '-f', literal, '-o', `${literal}.zst`]);
    spawnSync('zstd', ['-19', '-q', '-f', index, '-o', `${index}.zst`]);
    return { total, sent, literal: await size(`${literal}.zst`), index: await size(`${index}.zst`) };
  });
  for (const f of [literal, index]) {
    await rm(f, { force: true });
    await rm(`${f}.zst`, { force: true });
  }
  return {
    encoding: 'content-defined chunks, 64 KiB average (gear hash), emulated',
    deltaBytes: run.value.literal + run.value.index,
    detail: { chunks: run.value.total, chunksSent: run.value.sent, indexBytes: run.value.index },
    publish: { wallS: round(run.wallS), cpuS: round(run.cpuS), maxRssMB: null },
    site: null,
    exact: null,
  };
}

/** What sending the new layer whole costs: its gzip blob (LayerGzip) and, for scale, zstd -19. */
export async function wholeLayer(dir, pair, gzipSize) {
  const out = join(dir, 'whole.zst');
  const made = timed('zstd', ['-19', '--long=27', '-q', '-f', pair.new, '-o', out]);
  const zstdBytes = await size(out);
  await rm(out, { force: true });
  return { gzipBytes: gzipSize, zstd19Bytes: zstdBytes, zstd19: made };
}
