// The gpg binary, the one place arbor runs it: signing with a key from the user's GnuPG home
// (GNUPGHOME honoured, as gpg itself does), exporting a public key, checking a secret key is
// there. A passphrase goes to gpg on its own file descriptor (loopback pinentry), never on the
// command line, in the environment of a child or in a message.
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { redact, registerSecret } from '../secrets.js';

export interface GpgOptions {
  /** The key's passphrase; without one gpg-agent asks (or the key has none). */
  passphrase?: string;
  env?: NodeJS.ProcessEnv;
}

const BASE = ['--batch', '--no-tty', '--quiet', '--no-greeting'];

interface GpgResult {
  code: number;
  stdout: Buffer;
  stderr: string;
  /** Set when gpg could not be started at all. */
  spawnError?: string;
}

/**
 * Runs gpg once. Plain child_process rather than execa: apply runs one gpg per new tag, and the
 * lighter spawn is most of what a signature costs this process.
 */
function runGpg(args: string[], input: Buffer | undefined, options: GpgOptions): Promise<GpgResult> {
  const passphraseArgs =
    options.passphrase !== undefined ? ['--pinentry-mode', 'loopback', '--passphrase-fd', '3'] : [];
  return new Promise((resolve) => {
    const child = spawn('gpg', [...BASE, ...passphraseArgs, ...args], {
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe', options.passphrase !== undefined ? 'pipe' : 'ignore'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => stdout.push(c));
    child.stderr!.on('data', (c: Buffer) => stderr.push(c));
    // gpg may exit before reading everything (a wrong key): a closed pipe is not our error.
    for (const stream of [child.stdin!, child.stdio[3] as Writable | null])
      stream?.on('error', () => undefined);
    (child.stdio[3] as Writable | null)?.end(`${options.passphrase}\n`);
    child.stdin!.end(input ?? Buffer.alloc(0));
    child.on('error', (e) =>
      resolve({ code: 1, stdout: Buffer.alloc(0), stderr: '', spawnError: e.message }),
    );
    child.on('close', (code) =>
      resolve({
        code: code ?? 1,
        stdout: Buffer.concat(stdout),
        stderr: redact(Buffer.concat(stderr).toString('utf8')).trim(),
      }),
    );
  });
}

export class GpgError extends Error {}

function failure(what: string, result: GpgResult): GpgError {
  if (result.spawnError?.includes('ENOENT'))
    return new GpgError(`${what}: gpg is not installed (Debian: apt-get install gnupg)`);
  const reason = result.stderr.split('\n').filter(Boolean).at(-1) ?? `gpg exited ${result.code}`;
  return new GpgError(`${what}: ${reason.replace(/^gpg: /, '')}`);
}

/** An OpenPGP signed message (not detached) of `payload`, binary, as containers/image stores it. */
export async function gpgSign(key: string, payload: Buffer, options: GpgOptions = {}): Promise<Buffer> {
  if (options.passphrase !== undefined) registerSecret(options.passphrase);
  const result = await runGpg(['--local-user', key, '--sign', '--output', '-'], payload, options);
  if (result.code !== 0 || result.stdout.length === 0)
    throw failure(`gpg could not sign with key ${key}`, result);
  return result.stdout;
}

/** The public key (binary OpenPGP transferable key) of `key`. */
export async function gpgExportPublicKey(key: string, options: GpgOptions = {}): Promise<Buffer> {
  const result = await runGpg(['--export', key], undefined, options);
  if (result.code !== 0) throw failure(`gpg could not export key ${key}`, result);
  if (result.stdout.length === 0) throw new GpgError(`no public key ${key} in the GnuPG home`);
  return result.stdout;
}

/** Throws unless the GnuPG home holds the secret key. */
export async function gpgRequireSecretKey(key: string, options: GpgOptions = {}): Promise<void> {
  const result = await runGpg(['--list-secret-keys', '--with-colons', key], undefined, options);
  if (
    result.code !== 0 ||
    (!result.stdout.toString().includes('\nsec:') && !result.stdout.toString().startsWith('sec:'))
  ) {
    if (result.spawnError) throw failure('gpg', result);
    const home = (options.env ?? process.env).GNUPGHOME ?? '~/.gnupg';
    throw new GpgError(`no secret key ${key} in the GnuPG home ${home}`);
  }
}
