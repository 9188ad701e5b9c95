// The gpg binary, the one place arbor runs it: signing with a key from the user's GnuPG home
// (GNUPGHOME honoured, as gpg itself does), exporting a public key, checking a secret key is
// there. A passphrase goes to gpg on its own file descriptor (loopback pinentry), never on the
// command line, in the environment of a child or in a message.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  const lines = result.stderr.split('\n').filter(Boolean);
  const reason = lines.at(-1) ?? `gpg exited ${result.code}`;
  // gpg's own words for a protected key it could not ask a passphrase for (no terminal, no
  // pinentry) are about ioctls; and "Unusable secret key" hides an expired or revoked key.
  if (lines.some((l) => /Inappropriate ioctl for device|No pinentry|Operation cancelled/i.test(l)))
    return new GpgError(
      `${what}: the key is protected by a passphrase and none was given (passphrase_env or passphrase_file in images.yaml, --sign-passphrase-file on the command line)`,
    );
  if (/Unusable secret key/i.test(reason))
    return new GpgError(
      `${what}: unusable secret key (expired, revoked, or not a signing key; gpg --list-keys shows which)`,
    );
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

/**
 * The secret key as gpg exports it (binary, protected with its passphrase as in the GnuPG home),
 * for signing in process. Written to a pipe, never to a file.
 */
export async function gpgExportSecretKey(key: string, options: GpgOptions = {}): Promise<Buffer> {
  if (options.passphrase !== undefined) registerSecret(options.passphrase);
  const result = await runGpg(['--export-secret-keys', key], undefined, options);
  if (result.code !== 0 || result.stdout.length === 0)
    throw failure(`gpg could not export secret key ${key}`, result);
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

/**
 * Signs many payloads with few processes: requests made close together are gathered and signed
 * by one shell loop running gpg per payload (files in a private temporary directory, the
 * passphrase, when there is one, in a file there readable only by this user, all removed after).
 * Forking this (large) Node process once per signature is what made signing a release slow.
 */
export function createGpgBatchSigner(key: string, options: GpgOptions = {}) {
  let pending: Array<{ payload: Buffer; resolve: (b: Buffer) => void; reject: (e: Error) => void }> = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    const batch = pending;
    pending = [];
    if (batch.length === 1) {
      const [one] = batch;
      gpgSign(key, one!.payload, options).then(one!.resolve, one!.reject);
      return;
    }
    signBatch(
      key,
      batch.map((b) => b.payload),
      options,
    ).then(
      (signatures) => {
        for (const [i, b] of batch.entries()) b.resolve(signatures[i]!);
      },
      (e: Error) => {
        for (const b of batch) b.reject(e);
      },
    );
  };
  return {
    sign(payload: Buffer): Promise<Buffer> {
      return new Promise((resolve, reject) => {
        pending.push({ payload, resolve, reject });
        if (pending.length >= BATCH) flush();
        else if (!timer) timer = setTimeout(flush, 5);
      });
    },
  };
}

const BATCH = 256;

async function signBatch(key: string, payloads: Buffer[], options: GpgOptions): Promise<Buffer[]> {
  if (options.passphrase !== undefined) registerSecret(options.passphrase);
  const dir = await mkdtemp(join(tmpdir(), 'arbor-gpg-'));
  try {
    const files = await Promise.all(
      payloads.map(async (payload, i) => {
        const file = join(dir, `p${i}`);
        await writeFile(file, payload, { mode: 0o600 });
        return file;
      }),
    );
    const passphrase =
      options.passphrase !== undefined
        ? ['--pinentry-mode', 'loopback', '--passphrase-file', join(dir, 'passphrase')]
        : [];
    if (options.passphrase !== undefined)
      await writeFile(join(dir, 'passphrase'), `${options.passphrase}\n`, { mode: 0o600 });
    const gpg = [...BASE, ...passphrase, '--local-user', key, '--sign'].map(shellWord).join(' ');
    // Two loops: gpg's own start-up runs on both cores while gpg-agent signs.
    const halves = [files.filter((_, i) => i % 2 === 0), files.filter((_, i) => i % 2 === 1)].filter(
      (h) => h.length,
    );
    await Promise.all(
      halves.map(async (half) => {
        const result = await runShell(
          `for f; do gpg ${gpg} --output "$f.sig" "$f" || exit $?; done`,
          half,
          options,
        );
        if (result.code !== 0) throw failure(`gpg could not sign with key ${key}`, result);
      }),
    );
    return Promise.all(files.map((f) => readFile(`${f}.sig`)));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function shellWord(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

function runShell(script: string, args: string[], options: GpgOptions): Promise<GpgResult> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', script, 'sh', ...args], {
      env: options.env ?? process.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const stderr: Buffer[] = [];
    child.stderr!.on('data', (c: Buffer) => stderr.push(c));
    child.on('error', (e) =>
      resolve({ code: 1, stdout: Buffer.alloc(0), stderr: '', spawnError: e.message }),
    );
    child.on('close', (code) =>
      resolve({
        code: code ?? 1,
        stdout: Buffer.alloc(0),
        stderr: redact(Buffer.concat(stderr).toString('utf8')).trim(),
      }),
    );
  });
}
