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

export function createGpgHome(name: string, passphrase = ''): GpgHome {
  const home = mkdtempSync(join(tmpdir(), 'arbor-gnupg-'));
  const env = { ...process.env, GNUPGHOME: home };
  const gpg = (args: string[]) =>
    execFileSync('gpg', ['--batch', '--quiet', ...args], { env, stdio: 'pipe' });
  gpg([
    '--pinentry-mode',
    'loopback',
    '--passphrase',
    passphrase,
    '--quick-gen-key',
    `${name} <${name}@example.invalid>`,
    'ed25519',
    'sign',
    'never',
  ]);
  const listing = gpg(['--list-secret-keys', '--with-colons']).toString();
  const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(listing)![1]!;
  return {
    home,
    fingerprint,
    env,
    exportPublic: (file) => gpg(['--yes', '--output', file, '--export', fingerprint]),
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
