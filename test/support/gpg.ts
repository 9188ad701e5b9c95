// Throwaway GnuPG homes with a fresh key each (ed25519: generated in milliseconds), for the
// signing tests. Each home has its own gpg-agent, stopped by `remove`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface GpgHome {
  home: string;
  fingerprint: string;
  env: NodeJS.ProcessEnv;
  /** `gpg --export` of the key: what policy.json's keyPath and `arbor verify --gpg-key` read. */
  exportPublic(file: string): void;
  remove(): void;
}

/**
 * `past`: the key is made at that gpg time (`20240101T000000`) valid for `expire` (`1d`), so it
 * has expired by now; `sign` signs a file at that time, while it was still valid.
 */
export function createGpgHome(
  name: string,
  passphrase = '',
  options: { past?: string; expire?: string } = {},
): GpgHome & { signAtPast(input: string, output: string): void } {
  const home = mkdtempSync(join(tmpdir(), 'arbor-gnupg-'));
  const env = { ...process.env, GNUPGHOME: home };
  const faked = options.past ? ['--faked-system-time', options.past] : [];
  const gpg = (args: string[]) =>
    execFileSync('gpg', ['--batch', '--quiet', ...faked, ...args], { env, stdio: 'pipe' });
  gpg([
    '--pinentry-mode',
    'loopback',
    '--passphrase',
    passphrase,
    '--quick-gen-key',
    `${name} <${name}@example.invalid>`,
    'ed25519',
    'sign',
    options.expire ?? 'never',
  ]);
  const listing = gpg(['--list-secret-keys', '--with-colons']).toString();
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(listing)![1]!;
  return {
    home,
    fingerprint,
    env,
    exportPublic: (file) => gpg(['--yes', '--output', file, '--export', fingerprint]),
    signAtPast: (input, output) =>
      gpg([
        '--pinentry-mode',
        'loopback',
        '--passphrase',
        passphrase,
        '--yes',
        '-u',
        fingerprint,
        '--output',
        output,
        '--sign',
        input,
      ]),
    remove() {
      try {
        execFileSync('gpgconf', ['--kill', 'gpg-agent'], { env, stdio: 'ignore' });
      } catch {
        // No agent was started.
      }
      rmSync(home, { recursive: true, force: true });
    },
  };
}
