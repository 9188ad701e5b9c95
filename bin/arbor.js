#!/usr/bin/env node
// The published entry: the bundled CLI (dist/bundle, built by scripts/build.mjs). Plain JS, so
// `npm link` and `npx arbor` need no build tool at run time.
import module from 'node:module';
import './v8-settings.js';

// Node 22.1+ keeps compiled code between runs (a cache in the OS temp dir): start-up no longer
// re-compiles the bundle every time. Older Node versions simply do without.
module.enableCompileCache?.();

const { main } = await import('../dist/bundle/arbor.mjs');

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    // main() reports its own errors; reaching here is a bug in arbor itself.
    process.stderr.write(`arbor: internal error: ${err?.stack ?? err}\n`);
    process.exitCode = 1;
  },
);
