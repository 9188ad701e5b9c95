// The gpg binary, the one place arbor runs it: signing with a key from the user's GnuPG home
// (GNUPGHOME honoured, as gpg itself does), exporting a public key, checking a secret key is
// there. A passphrase goes to gpg on its own file descriptor (loopback pinentry), never on the
// command line, in the environment of a child or in a message.
import { execa } from 'execa';
import { redact, registerSecret } from '../secrets.js';

export interface GpgOptions {
  /** The key's passphrase; without one gpg-agent asks (or the key has none). */
  passphrase?: string;
  env?: NodeJS.ProcessEnv;
}

const BASE = ['--batch', '--no-tty', '--quiet', '--no-greeting'];

async function runGpg(args: string[], input: Buffer | undefined, options: GpgOptions) {
  const passphraseArgs =
    options.passphrase !== undefined ? ['--pinentry-mode', 'loopback', '--passphrase-fd', '3'] : [];
  const child = execa('gpg', [...BASE, ...passphraseArgs, ...args], {
    env: options.env ?? process.env,
    extendEnv: false,
    encoding: 'buffer',
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    reject: false,
    ...(input ? { input } : {}),
  });
  const passphraseFd = child.stdio[3] as unknown as NodeJS.WritableStream | undefined;
  if (passphraseFd) passphraseFd.end(options.passphrase !== undefined ? `${options.passphrase}\n` : '');
  const result = await child;
  const stderr = redact(Buffer.from(result.stderr as Uint8Array).toString('utf8')).trim();
  return {
    code: result.exitCode ?? 1,
    stdout: Buffer.from(result.stdout as Uint8Array),
    stderr,
    failed: result.failed,
    spawnError: result.failed && result.exitCode === undefined ? result.message : undefined,
  };
}

export class GpgError extends Error {}

function failure(what: string, result: Awaited<ReturnType<typeof runGpg>>): GpgError {
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
