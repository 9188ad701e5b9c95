// A tar reader that keeps every byte of a name: names, link targets and PAX records are read as
// bytes and handed on as latin1 strings (one character per byte), so `bad-\xff` and `bad-\xfe`
// stay two names and a file created from one has exactly the bytes of the layer — as Go's
// archive/tar (Docker, containerd) keeps them. tar-stream decodes PAX records as UTF-8, which
// turns both into U+FFFD and mangles binary extended attributes (file capabilities).
//
// Formats: ustar (name prefix), GNU (L/K long names), PAX (`x` records; `g` records are skipped,
// as Go and Docker skip them), and GNU's PAX sparse files (versions 0.0, 0.1, 1.0), expanded to
// their full content as Go does. Entry types are passed on as their raw flag: the caller decides
// which it unpacks. After the end-of-archive block the input is still read to its end, so the
// caller's digests cover all of it.

/** A name in the layer's own bytes, as a latin1 string. */
export type ByteString = string;

export interface TarHeader {
  name: ByteString;
  linkname: ByteString;
  /** The type flag as written ('0' for a NUL flag; '5' for a V7 NUL flag with a trailing slash). */
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  /** Milliseconds since the epoch. */
  mtime: number;
  /** The content's size (a sparse file's full size). */
  size: number;
  devmajor: number;
  devminor: number;
  /** PAX `SCHILY.xattr.<name>` records: name (latin1) → the value's exact bytes. */
  xattrs: Record<ByteString, Buffer>;
}

export interface TarEntry {
  header: TarHeader;
  /** The content; what the consumer leaves unread is skipped before the next entry. */
  body: AsyncIterable<Buffer>;
}

export class TarFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TarFormatError';
  }
}

const BLOCK = 512;
/** A PAX or GNU long-name record bigger than this is no real archive (tar-stream's limit too). */
const MAX_META = 1024 * 1024;
/** Types whose size field says nothing about data in the archive (Go's isHeaderOnlyType). */
const HEADER_ONLY = new Set(['1', '2', '3', '4', '5', '6']);
const XATTR_PREFIX = 'SCHILY.xattr.';

/** Pulls exact byte counts out of a stream of chunks of any size. */
class ByteSource {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;

  constructor(private readonly input: AsyncIterator<Buffer>) {}

  private async fill(n: number): Promise<void> {
    while (this.buffered < n && !this.ended) {
      const next = await this.input.next();
      if (next.done) this.ended = true;
      else if (next.value.length > 0) {
        this.chunks.push(next.value);
        this.buffered += next.value.length;
      }
    }
  }

  /** Up to `max` bytes (at least one), or null at the end of the input. */
  async some(max: number): Promise<Buffer | null> {
    await this.fill(1);
    const first = this.chunks[0];
    if (!first) return null;
    const take = Math.min(max, first.length);
    const out = first.subarray(0, take);
    if (take === first.length) this.chunks.shift();
    else this.chunks[0] = first.subarray(take);
    this.buffered -= take;
    return out;
  }

  /** Exactly `n` bytes; null at the end of input before the first byte, an error when cut short. */
  async exact(n: number): Promise<Buffer | null> {
    await this.fill(n);
    if (this.buffered === 0 && n > 0) return null;
    if (this.buffered < n) throw new TarFormatError('archive ends in the middle of an entry');
    const parts: Buffer[] = [];
    for (let left = n; left > 0; ) {
      const part = (await this.some(left))!;
      parts.push(part);
      left -= part.length;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  async skip(n: number): Promise<void> {
    for (let left = n; left > 0; ) {
      const part = await this.some(Math.min(left, 1 << 20));
      if (!part) throw new TarFormatError('archive ends in the middle of an entry');
      left -= part.length;
    }
  }

  async drain(): Promise<void> {
    while (await this.some(1 << 20));
  }
}

const padding = (size: number) => (BLOCK - (size % BLOCK)) % BLOCK;

/** The entries of a tar stream; each body must be read (or left) before asking for the next. */
export async function* readTar(input: AsyncIterable<Buffer>): AsyncGenerator<TarEntry> {
  const source = new ByteSource(input[Symbol.asyncIterator]());
  let pax: Map<string, Buffer> | null = null;
  let sparse0: string[] = [];
  let longName: ByteString | null = null;
  let longLink: ByteString | null = null;
  for (;;) {
    const block = await source.exact(BLOCK);
    if (!block || block.every((b) => b === 0)) break;
    checkChecksum(block);
    const flag = block[156] === 0 ? '\0' : String.fromCharCode(block[156]!);
    const rawSize = numeric(block, 124, 12, 'size');
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (rawSize > MAX_META) throw new TarFormatError(`a ${flag} header of ${rawSize} bytes`);
      const data = (await source.exact(rawSize)) ?? Buffer.alloc(0);
      await source.skip(padding(rawSize));
      if (flag === 'x') [pax, sparse0] = parsePax(data);
      else if (flag === 'L') longName = cString(data, 0, data.length);
      else if (flag === 'K') longLink = cString(data, 0, data.length);
      continue;
    }
    const header = baseHeader(block, flag, rawSize);
    if (longName !== null) header.name = longName;
    if (longLink !== null) header.linkname = longLink;
    let physical = HEADER_ONLY.has(header.typeflag) ? 0 : rawSize;
    if (pax) physical = applyPax(header, pax, physical);
    const records = pax ?? new Map<string, Buffer>();
    const sparseRecords = sparse0;
    pax = null;
    sparse0 = [];
    longName = longLink = null;

    let body: AsyncIterable<Buffer>;
    const state = { left: physical };
    const sparse = header.typeflag === '0' ? sparseVersion(records, sparseRecords) : null;
    if (sparse) {
      const name = text(records, 'GNU.sparse.name');
      if (name) header.name = name;
      const size = text(records, 'GNU.sparse.size') ?? text(records, 'GNU.sparse.realsize');
      if (size !== undefined) header.size = decimal(size, 'GNU.sparse.size');
      const map = sparse === '1.0' ? await readMap1x0(source, state) : readMap0x(records, sparseRecords);
      checkMap(map, header.size, state.left);
      body = expand(source, state, map, header.size);
    } else {
      header.size = physical;
      body = region(source, state);
    }
    yield { header, body };
    await source.skip(state.left + padding(physical));
  }
  await source.drain();
}

function baseHeader(block: Buffer, flag: string, size: number): TarHeader {
  let name = cString(block, 0, 100);
  const magic = block.subarray(257, 265).toString('latin1');
  // ustar (and PAX) split long names into prefix and name; GNU keeps other fields there.
  if (magic === 'ustar\x0000') {
    const prefix = cString(block, 345, 155);
    if (prefix) name = `${prefix}/${name}`;
  }
  // V7 marked a directory by a trailing slash only.
  const typeflag = flag === '\0' ? (name.endsWith('/') ? '5' : '0') : flag;
  return {
    name,
    linkname: cString(block, 157, 100),
    typeflag,
    mode: numeric(block, 100, 8, 'mode'),
    uid: numeric(block, 108, 8, 'uid'),
    gid: numeric(block, 116, 8, 'gid'),
    mtime: numeric(block, 136, 12, 'mtime') * 1000,
    size,
    devmajor: numeric(block, 329, 8, 'devmajor'),
    devminor: numeric(block, 337, 8, 'devminor'),
    xattrs: {},
  };
}

function applyPax(header: TarHeader, pax: Map<string, Buffer>, physical: number): number {
  for (const [key, value] of pax) {
    const v = value.toString('latin1');
    if (key === 'path') header.name = v;
    else if (key === 'linkpath') header.linkname = v;
    else if (key === 'uid') header.uid = decimal(v, key);
    else if (key === 'gid') header.gid = decimal(v, key);
    else if (key === 'mtime') header.mtime = Math.floor(Number(v) * 1000) || 0;
    else if (key === 'size' && !HEADER_ONLY.has(header.typeflag)) physical = decimal(v, key);
    else if (key.startsWith(XATTR_PREFIX)) header.xattrs[key.slice(XATTR_PREFIX.length)] = Buffer.from(value);
  }
  return physical;
}

/** PAX records (`<length> <key>=<value>\n`), values as bytes; GNU sparse 0.0's repeated keys in order. */
export function parsePax(data: Buffer): [Map<string, Buffer>, string[]] {
  const records = new Map<string, Buffer>();
  const sparse: string[] = [];
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const length = space > at ? Number(data.subarray(at, space).toString('latin1')) : Number.NaN;
    if (!Number.isInteger(length) || length <= space - at || at + length > data.length)
      throw new TarFormatError('malformed PAX record');
    const record = data.subarray(space + 1, at + length);
    const eq = record.indexOf(0x3d);
    if (eq <= 0 || record[record.length - 1] !== 0x0a) throw new TarFormatError('malformed PAX record');
    const key = record.subarray(0, eq).toString('latin1');
    const value = record.subarray(eq + 1, record.length - 1);
    if (key === 'GNU.sparse.offset' || key === 'GNU.sparse.numbytes') sparse.push(value.toString('latin1'));
    else records.set(key, value);
    at += length;
  }
  return [records, sparse];
}

const text = (records: Map<string, Buffer>, key: string) => records.get(key)?.toString('latin1');

/** Which GNU PAX sparse format an entry uses, as Go's archive/tar decides it; null: not sparse. */
function sparseVersion(records: Map<string, Buffer>, sparse0: string[]): '0.x' | '1.0' | null {
  const major = text(records, 'GNU.sparse.major');
  const minor = text(records, 'GNU.sparse.minor');
  if (major === '0' && (minor === '0' || minor === '1')) return '0.x';
  if (major === '1' && minor === '0') return '1.0';
  if (major !== undefined || minor !== undefined)
    throw new TarFormatError(`unknown GNU sparse format ${major}.${minor}`);
  return records.has('GNU.sparse.map') || sparse0.length > 0 ? '0.x' : null;
}

interface Fragment {
  offset: number;
  length: number;
}

function pairs(numbers: string[], what: string): Fragment[] {
  if (numbers.length % 2 !== 0) throw new TarFormatError(`odd number of values in the ${what}`);
  const out: Fragment[] = [];
  for (let i = 0; i < numbers.length; i += 2)
    out.push({ offset: decimal(numbers[i]!, what), length: decimal(numbers[i + 1]!, what) });
  return out;
}

/** Versions 0.0 (repeated offset/numbytes records) and 0.1 (`GNU.sparse.map`). */
function readMap0x(records: Map<string, Buffer>, sparse0: string[]): Fragment[] {
  const numbers = sparse0.length > 0 ? sparse0 : (text(records, 'GNU.sparse.map') ?? '').split(',');
  const map = numbers.length === 1 && numbers[0] === '' ? [] : pairs(numbers, 'GNU sparse map');
  const count = text(records, 'GNU.sparse.numblocks');
  if (count !== undefined && decimal(count, 'GNU.sparse.numblocks') !== map.length)
    throw new TarFormatError('GNU sparse map does not have GNU.sparse.numblocks entries');
  return map;
}

/** Version 1.0: the map is at the start of the data, decimal lines padded to whole blocks. */
async function readMap1x0(source: ByteSource, state: { left: number }): Promise<Fragment[]> {
  let lines: string[] = [];
  let pending = '';
  const need = async (n: number) => {
    while (lines.length < n) {
      if (state.left < BLOCK) throw new TarFormatError('GNU sparse map runs past the entry');
      const block = (await source.exact(BLOCK))!;
      state.left -= BLOCK;
      const parts = (pending + block.toString('latin1')).split('\n');
      pending = parts.pop()!;
      lines = lines.concat(parts);
    }
  };
  await need(1);
  const count = decimal(lines.shift()!, 'GNU sparse map');
  if (count > 1_000_000) throw new TarFormatError('GNU sparse map is too long');
  await need(2 * count);
  return pairs(lines.slice(0, 2 * count), 'GNU sparse map');
}

/** Fragments in order, inside the file, and as much data as the archive holds. */
function checkMap(map: Fragment[], size: number, data: number): void {
  let end = 0;
  let total = 0;
  for (const f of map) {
    if (f.offset < end || f.offset + f.length > size)
      throw new TarFormatError('GNU sparse map has overlapping or out-of-range fragments');
    end = f.offset + f.length;
    total += f.length;
  }
  if (total !== data) throw new TarFormatError('GNU sparse map does not match the entry’s data');
}

async function* region(source: ByteSource, state: { left: number }, n = state.left): AsyncGenerator<Buffer> {
  for (let left = n; left > 0; ) {
    const part = await source.some(Math.min(left, 1 << 20));
    if (!part) throw new TarFormatError('archive ends in the middle of an entry');
    left -= part.length;
    state.left -= part.length;
    yield part;
  }
}

const ZEROS = Buffer.alloc(1 << 16);

function* zeros(n: number): Generator<Buffer> {
  for (let left = n; left > 0; left -= ZEROS.length) yield ZEROS.subarray(0, Math.min(left, ZEROS.length));
}

/** A sparse file's full content: its data fragments with zeros in the holes. */
async function* expand(
  source: ByteSource,
  state: { left: number },
  map: Fragment[],
  size: number,
): AsyncGenerator<Buffer> {
  let at = 0;
  for (const f of map) {
    yield* zeros(f.offset - at);
    yield* region(source, state, f.length);
    at = f.offset + f.length;
  }
  yield* zeros(size - at);
}

function checkChecksum(block: Buffer): void {
  const stored = numeric(block, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  if (stored !== unsigned && stored !== signed) throw new TarFormatError('tar header checksum mismatch');
}

function cString(buf: Buffer, start: number, length: number): ByteString {
  const field = buf.subarray(start, start + length);
  const nul = field.indexOf(0);
  return field.subarray(0, nul < 0 ? field.length : nul).toString('latin1');
}

/** Octal (NUL/space padded) or GNU base-256 (high bit set), as tar writes numbers. */
function numeric(buf: Buffer, start: number, length: number, what: string): number {
  const field = buf.subarray(start, start + length);
  if (field[0]! & 0x80) {
    // 0xff starts a negative number: no field arbor reads may be negative.
    if (field[0] === 0xff) throw new TarFormatError(`tar header ${what} is negative`);
    let value = BigInt(field[0]! & 0x7f);
    for (const b of field.subarray(1)) value = (value << 8n) | BigInt(b);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new TarFormatError(`tar header ${what} out of range`);
    return Number(value);
  }
  const digits = field.toString('latin1').replace(/^[ \0]+|[ \0]+$/g, '');
  if (digits === '') return 0;
  if (!/^[0-7]+$/.test(digits)) throw new TarFormatError(`tar header ${what} is not a number`);
  return Number.parseInt(digits, 8);
}

function decimal(value: string, what: string): number {
  if (!/^[0-9]+$/.test(value)) throw new TarFormatError(`${what} "${value}" is not a number`);
  const n = Number(value);
  if (!Number.isSafeInteger(n)) throw new TarFormatError(`${what} ${value} is out of range`);
  return n;
}
