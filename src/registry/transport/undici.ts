// The parts of undici arbor uses — Pool, Agent and `request` — loaded without the rest of its
// index (fetch, WebSocket, EventSource, mocks, cache stores, proxies). Importing 'undici' whole
// compiles about 1 MB of JavaScript on every run: ≈ 75–100 ms of a CLI's start-up on Node 20,
// against ≈ 25 ms for these modules. undici has no `exports` map, so these paths are importable;
// its version is pinned by the lockfile, and test/unit/registry/undici.test.ts checks them.
import type { Dispatcher as DispatcherType, Agent as UndiciAgent, Pool as UndiciPool } from 'undici';
import api from 'undici/lib/api/index.js';
import util from 'undici/lib/core/util.js';
import AgentClass from 'undici/lib/dispatcher/agent.js';
import DispatcherClass from 'undici/lib/dispatcher/dispatcher.js';
import PoolClass from 'undici/lib/dispatcher/pool.js';
import { getGlobalDispatcher } from 'undici/lib/global.js';

// What undici's index.js does: request/stream/pipeline/… become methods of every dispatcher.
if (!('request' in DispatcherClass.prototype)) Object.assign(DispatcherClass.prototype, api);

export type Dispatcher = DispatcherType;
export type DispatchHandler = DispatcherType.DispatchHandler;
/** Raw header pairs (as a dispatch handler's onHeaders gets them) → `{ name: value }`, names lower-cased. */
export const parseHeaders: (raw: Buffer[]) => Record<string, string | string[]> = util.parseHeaders;
export const Pool: typeof UndiciPool = PoolClass;
export type Pool = UndiciPool;
export const Agent: typeof UndiciAgent = AgentClass;
export type Agent = UndiciAgent;

export type RequestOptions = Omit<DispatcherType.RequestOptions, 'origin' | 'path' | 'method'> & {
  method?: DispatcherType.HttpMethod;
  dispatcher?: DispatcherType;
};

/** undici's top-level `request(url, options)`: on `options.dispatcher`, or the global one. */
export function request(
  url: string | URL,
  options: RequestOptions = {},
): Promise<DispatcherType.ResponseData> {
  const target = typeof url === 'string' ? new URL(url) : url;
  const { dispatcher = getGlobalDispatcher(), ...rest } = options;
  return dispatcher.request({
    ...rest,
    origin: target.origin,
    path: `${target.pathname}${target.search}`,
    method: rest.method ?? (rest.body ? 'PUT' : 'GET'),
  });
}
