#!/usr/bin/env node
// The published entry: the compiled CLI. Kept as plain JS so `npm link` and `npx arbor` need no build tool.
import { main } from '../dist/bundle/arbor.mjs';

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
