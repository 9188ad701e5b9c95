// `User-Agent: arbor/<version>`, so registry operators can tell arbor's traffic apart.
import { readFileSync } from 'node:fs';
import type { Layer } from './types.js';

function readVersion(): string {
  try {
    // From src/registry/transport (tests) and dist/registry/transport (built) alike.
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
    return typeof pkg.version === 'string' ? pkg.version : 'dev';
  } catch {
    return 'dev';
  }
}

export const USER_AGENT = `arbor/${readVersion()}`;

export function userAgentLayer(): Layer {
  return (next) => (request) =>
    next({ ...request, headers: { ...request.headers, 'user-agent': USER_AGENT } });
}
