// docker-credential-helpers protocol: `docker-credential-NAME get` reads the server URL on stdin
// and prints {"ServerURL","Username","Secret"}; a missing entry is exit 1 with
// "credentials not found in native keychain". Username `<token>` means Secret is an identity token.
// Helper output may hold secrets, so errors name the helper and registry, never the output.
import { ArborError } from '../../errors.js';
import { registerSecret } from '../../secrets.js';
import type { Credentials } from './types.js';

const NOT_FOUND = /credentials not found/i;
const HELPER_TIMEOUT_MS = 30_000;

export async function runCredentialHelper(
  helper: string,
  serverUrl: string,
  registry: string,
): Promise<Credentials | undefined> {
  const program = `docker-credential-${helper}`;
  if (!/^[A-Za-z0-9._-]+$/.test(helper)) {
    throw new ArborError(`credential helper name "${helper}" for ${registry} is not a plain program name`);
  }
  let stdout: string;
  try {
    // Loaded on first use: most runs have no helper, and every run would pay for loading execa.
    const { execa } = await import('execa');
    const result = await execa(program, ['get'], {
      input: serverUrl,
      timeout: HELPER_TIMEOUT_MS,
      stripFinalNewline: true,
    });
    stdout = result.stdout;
  } catch (e) {
    const failure = e as { code?: string; exitCode?: number; timedOut?: boolean; stdout?: unknown };
    if (failure.code === 'ENOENT') {
      throw new ArborError(`credential helper ${program} for ${registry} is not on PATH`);
    }
    if (failure.timedOut) {
      throw new ArborError(`credential helper ${program} for ${registry} did not answer within 30 s`);
    }
    // The one answer whose text is safe and meaningful to read: "nothing stored".
    if (typeof failure.stdout === 'string' && NOT_FOUND.test(failure.stdout)) return undefined;
    throw new ArborError(
      `credential helper ${program} failed for ${registry} (exit code ${failure.exitCode})`,
    );
  }
  return parseHelperOutput(stdout, program, registry);
}

function parseHelperOutput(stdout: string, program: string, registry: string): Credentials {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new ArborError(`credential helper ${program} returned output that is not JSON for ${registry}`);
  }
  const { Username, Secret } = (parsed ?? {}) as { Username?: unknown; Secret?: unknown };
  if (typeof Secret !== 'string' || (Username !== undefined && typeof Username !== 'string')) {
    throw new ArborError(`credential helper ${program} returned no Username/Secret strings for ${registry}`);
  }
  registerSecret(Secret);
  if (Username === '<token>') return { identityToken: Secret };
  return { username: Username ?? '', password: Secret };
}
