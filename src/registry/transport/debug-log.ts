// `--debug` lines for every HTTP exchange: method, URL, status, time. Never headers (they carry
// credentials), and every line through redact() in case a URL does.
import { redact } from '../../secrets.js';
import type { Layer } from './types.js';

export function debugLayer(baseUrl: URL, debug: ((line: string) => void) | undefined): Layer {
  if (!debug) return (next) => next;
  return (next) => async (request) => {
    const started = performance.now();
    const url = new URL(request.url, baseUrl).href;
    const elapsed = () => `${Math.round(performance.now() - started)} ms`;
    try {
      const response = await next(request);
      debug(redact(`${request.method} ${url} → ${response.status} (${elapsed()})`));
      return response;
    } catch (e) {
      debug(redact(`${request.method} ${url} → ${(e as Error).message} (${elapsed()})`));
      throw e;
    }
  };
}
