// What Node's fs cannot do, through the standard tools: device nodes and FIFOs (mknod, mkfifo),
// extended attributes (setfattr, from Debian's `attr`), and a copy that keeps every attribute
// (cp -a) when a file already has as many hard links as the file system allows. Each runs as a
// child process; layers rarely need any of them, so the cost is per rare file, not per file.
import { execFile } from 'node:child_process';
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

export function makeDevice(
  path: string,
  type: 'char' | 'block',
  major: number,
  minor: number,
): Promise<void> {
  return tool('mknod', [path, type === 'char' ? 'c' : 'b', String(major), String(minor)]);
}

export function makeFifo(path: string): Promise<void> {
  return tool('mkfifo', [path]);
}

/** Sets every attribute of one file in one process (setfattr --restore reads getfattr's dump format). */
export function setXattrs(path: string, xattrs: Readonly<Record<string, Buffer>>): Promise<void> {
  if (path.includes('\n'))
    throw new SystemToolError('setfattr', `cannot name ${JSON.stringify(path)}`, false);
  const lines = [`# file: ${path}`];
  for (const [name, value] of Object.entries(xattrs)) lines.push(`${name}=0x${value.toString('hex')}`);
  return tool('setfattr', ['--restore=-'], `${lines.join('\n')}\n\n`);
}

/** A new inode with the same content and every attribute (used when a file has too many links). */
export function copyPreserving(from: string, to: string): Promise<void> {
  return tool('cp', ['-a', '--no-dereference', '--reflink=auto', from, to]);
}
