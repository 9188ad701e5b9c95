// The environment a benchmark's timed commands run in, and what it costs a Node process to start.
//
// This machine's shell sets NODE_EXTRA_CA_CERTS (to the system CA bundle, for its outbound proxy),
// as corporate CI images often do. Node 20 then builds its whole root store at start-up, before
// any JavaScript runs: the ~140 roots it bundles and every certificate of that file, parsed by
// OpenSSL 3 (nodejs/node#40524). Here that is 65–90 ms of CPU per process, more than the rest of
// Node's start-up; Node 24 defers it to the first TLS connection and pays nothing at start-up.
// A benchmark on loopback speaks plain HTTP, so the variable changes nothing it measures but a
// fixed cost that every Node command pays (arbor, the registry's floor) and no Go one (skopeo).
// The benchmark then times every command without it, as on a fresh machine, and times arbor
// with the environment it was given as well, to report both.
import { spawnSync } from 'node:child_process';
import { median } from './util.mjs';

/** The variables taken out: each makes an older Node pay at start-up for nothing a benchmark uses. */
export const START_UP_TAXES = ['NODE_EXTRA_CA_CERTS'];

/** `env` without the start-up taxes; `removed` names those that were set. */
export function withoutStartUpTaxes(env) {
  const clean = { ...env };
  const removed = START_UP_TAXES.filter((name) => clean[name] !== undefined && clean[name] !== '');
  for (const name of START_UP_TAXES) delete clean[name];
  return { env: clean, removed };
}

/** Median wall time of `node -e 0` (this Node) in `env`, over `runs` processes. */
export function nodeStartUpMs(env, runs = 5) {
  return median(
    Array.from({ length: runs }, () => {
      const started = performance.now();
      const r = spawnSync(process.execPath, ['-e', '0'], { env });
      if (r.status !== 0) throw new Error(`node -e 0 exited ${r.status ?? r.signal}`);
      return performance.now() - started;
    }),
  );
}
