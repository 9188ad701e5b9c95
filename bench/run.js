#!/usr/bin/env node
// Benchmark runner: `node bench/run.js [name…]` runs bench/<name>.mjs (every bench/*.mjs when no
// name is given), each in its own Node process so one benchmark cannot warm up another, and
// prints one JSON document: { "<name>": <what the benchmark printed>, … }. A benchmark prints
// one JSON document on stdout; its stderr is passed through. Benchmarks run on compiled code
// and the CLI bundle (plan-noop and apply-noop run `node bin/arbor.js`): `npm run build` first
// (`npm run bench` does both). How to run each one, and the latest results: bench/README.md.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.mjs'))
  .map((f) => f.slice(0, -'.mjs'.length))
  .sort();
const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !available.includes(name));
if (unknown.length > 0) {
  process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')} (available: ${available.join(', ')})\n`);
  process.exit(1);
}

const results = {};
let failed = false;
for (const name of wanted.length > 0 ? wanted : available) {
  process.stderr.write(`bench: ${name}…\n`);
  const run = spawnSync(process.execPath, [path.join(here, `${name}.mjs`)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.status !== 0) {
    failed = true;
    results[name] = { error: `exited with ${run.status ?? run.signal}` };
    continue;
  }
  try {
    results[name] = JSON.parse(run.stdout);
  } catch {
    failed = true;
    results[name] = { error: 'did not print JSON', output: run.stdout.slice(0, 2000) };
  }
}
process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
process.exit(failed ? 1 : 0);
