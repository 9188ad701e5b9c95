// `User-Agent: arbor/<version>`, so registry operators can tell arbor's traffic apart.
import { VERSION } from '../../package-info.js';
import type { Layer } from './types.js';

export const USER_AGENT = `arbor/${VERSION}`;

export function userAgentLayer(): Layer {
  return (next) => (request) =>
    next({ ...request, headers: { ...request.headers, 'user-agent': USER_AGENT } });
}
