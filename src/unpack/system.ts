// What Node's fs cannot do, through the standard tools: device nodes and FIFOs (mknod, mkfifo),
// extended attributes (setfattr, from Debian's `attr`), and a copy that keeps every attribute
// (cp -a) when a file already has as many hard links as the file system allows. Each runs as a
// child process; layers rarely need any of them, so the cost is per rare file, not per file.
// A command line carries names as UTF-8 while a layer's names are any bytes (Buffer paths): new
// nodes are made under an ASCII name in a scratch directory and renamed into place, setfattr
// reads octal escapes, and only cp's source must be a UTF-8 name.
import { execFile } from 'node:child_process';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class SystemToolError extends Error {
  constructor(
    readonly tool: string,
    readonly detail: string,
    readonly missing: boolean,
  ) {
    super(`${tool}: ${detail}`);
    this.name = 'SystemToolError';
  }
}

async function tool(file: string, args: string[], input?: string): Promise<void> {
  try {
    if (input === undefined) {
      await run(file, args, { maxBuffer: 1024 * 1024 });
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const child = execFile(file, args, { maxBuffer: 1024 * 1024 }, (error) =>
        error ? reject(error) : resolve(),
      );
      child.stdin?.end(input);
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    const missing = err.code === 'ENOENT';
    const detail = missing ? 'not installed (run scripts/setup-host.sh)' : (err.stderr || err.message).trim();
    throw new SystemToolError(file, detail, missing);
  }
}

let scratchCount = 0;

/** Makes `target` with `make` at an ASCII name in `scratch` (same file system), then renames it. */
async function viaScratch(
  scratch: string,
  target: string | Buffer,
  make: (at: string) => Promise<void>,
): Promise<void> {
  if (typeof target === 'string') return make(target);
  const at = path.join(scratch, `.node-${process.pid}-${++scratchCount}`);
  try {
    await make(at);
    await rename(at, target);
  } finally {
    await rm(at, { force: true });
  }
}

/** A name for a command line, which can only carry UTF-8. */
function argument(tool: string, name: string | Buffer): string {
  if (typeof name === 'string') return name;
  const text = name.toString('utf8');
  if (!Buffer.from(text).equals(name))
    throw new SystemToolError(tool, `cannot pass a name that is not UTF-8 (${JSON.stringify(text)})`, false);
  return text;
}

/** getfattr's dump quoting (octal escapes), which `setfattr --restore` undoes: any bytes pass. */
function dumpQuote(bytes: Buffer, also = ''): string {
  let out = '';
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    out +=
      b <= 0x20 || b >= 0x7f || c === '\\' || also.includes(c) ? `\\${b.toString(8).padStart(3, '0')}` : c;
  }
  return out;
}

export function makeDevice(
  target: string | Buffer,
  scratch: string,
  type: 'char' | 'block',
  major: number,
  minor: number,
): Promise<void> {
  return viaScratch(scratch, target, (at) =>
    tool('mknod', [at, type === 'char' ? 'c' : 'b', String(major), String(minor)]),
  );
}

export function makeFifo(target: string | Buffer, scratch: string): Promise<void> {
  return viaScratch(scratch, target, (at) => tool('mkfifo', [at]));
}

/** Sets every attribute of one file in one process (setfattr --restore reads getfattr's dump format). */
export function setXattrs(file: string | Buffer, xattrs: Readonly<Record<string, Buffer>>): Promise<void> {
  const lines = [`# file: ${dumpQuote(typeof file === 'string' ? Buffer.from(file) : file)}`];
  for (const [name, value] of Object.entries(xattrs))
    lines.push(`${dumpQuote(Buffer.from(name, 'latin1'), '=')}=0x${value.toString('hex')}`);
  return tool('setfattr', ['--restore=-'], `${lines.join('\n')}\n\n`);
}

/** A new inode with the same content and every attribute (used when a file has too many links). */
export async function copyPreserving(
  from: string | Buffer,
  to: string | Buffer,
  scratch = '',
): Promise<void> {
  const source = argument('cp', from);
  await viaScratch(scratch, to, (at) => tool('cp', ['-a', '--no-dereference', '--reflink=auto', source, at]));
}
