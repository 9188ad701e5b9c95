// A signing key's passphrase, from the environment variable or the file images.yaml names: never
// from images.yaml itself, never printed (registered for redaction the moment it is read).
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { PassphraseSource } from '../config/model.js';
import { registerSecret } from '../secrets.js';

export class PassphraseError extends Error {}

export async function readPassphrase(
  source: PassphraseSource,
  root: string,
  env: NodeJS.ProcessEnv,
): Promise<string | undefined> {
  let value: string | undefined;
  if (source.passphraseEnv !== undefined) {
    value = env[source.passphraseEnv];
    if (value === undefined)
      throw new PassphraseError(`environment variable ${source.passphraseEnv} is not set`);
  } else if (source.passphraseFile !== undefined) {
    const file = resolve(root, source.passphraseFile);
    try {
      // The first line: a trailing newline is not part of the passphrase.
      value = (await readFile(file, 'utf8')).split(/\r?\n/)[0] ?? '';
    } catch (e) {
      throw new PassphraseError(
        `cannot read ${source.passphraseFile} (${(e as NodeJS.ErrnoException).code})`,
      );
    }
  }
  registerSecret(value);
  return value;
}
