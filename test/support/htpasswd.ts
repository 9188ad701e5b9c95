// An htpasswd file for the registry's `auth.htpasswd`, made by apache2-utils' htpasswd with
// bcrypt (-B): distribution accepts nothing else. Passwords go in on stdin, not argv.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

export function writeHtpasswd(file: string, users: Record<string, string>): void {
  const lines = Object.entries(users).map(([user, password]) => {
    try {
      return execFileSync('htpasswd', ['-Bin', user], {
        input: password,
        encoding: 'utf8',
        stdio: ['pipe', 'pipe', 'pipe'],
      }).trim();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new Error('htpasswd not found: run scripts/setup-host.sh (installs apache2-utils)');
      }
      throw e;
    }
  });
  writeFileSync(file, `${lines.join('\n')}\n`);
}

/** The registry's `auth:` section for an htpasswd file. */
export function htpasswdAuthConfig(file: string, realm = 'arbor-test'): string {
  return `auth:\n  htpasswd:\n    realm: ${realm}\n    path: ${file}\n`;
}
