// V8 settings for a command line, made before anything compiles (imported first by bin/arbor.js,
// and by bench/lib/bare-promote.mjs, the registry's floor, so that floor runs as arbor does).
//
// Node's own modules come with code V8 compiled when Node was built, which V8 accepts only while
// its flags are the ones it was built with. Once a flag below is set, every built-in module loaded
// after it is compiled again from source: 25–35 ms of each command's start-up went to that.
// So the built-ins arbor's commands load anyway (the HTTP client's, crypto, child processes,
// prompts) are loaded first, while their code is still accepted (bench/README.md, "Nineteenth
// round"). Imports run in order, before this module's body.
import 'node:assert';
import 'node:child_process';
import 'node:crypto';
import 'node:diagnostics_channel';
import 'node:fs/promises';
import 'node:http';
import 'node:http2';
import 'node:net';
import 'node:os';
import 'node:readline/promises';
import 'node:stream';
import 'node:stream/promises';
import 'node:tls';
import v8 from 'node:v8';

// undici parses HTTP with llhttp compiled to WebAssembly, which V8 compiles at once with its
// baseline compiler (Liftoff) and then again, optimised, on background threads. A command line's
// few hundred requests never earn that second compile back: without it a no-op promotion of 187
// images takes a fifth less CPU on Node 20 (a tenth on 24), and a 256 MiB blob streams no slower
// (bench/README.md, "Sixth round"). Only on the Node majors checked to know the flag: V8 reports
// an unknown one on stderr.
const major = Number(process.versions.node.split('.')[0]);
if (major >= 20 && major <= 24) v8.setFlagsFromString('--liftoff-only');

// Node 20's V8 considers optimising a function after 66 KB of its bytecode ran. That suits pages
// and servers running for hours; a command line then compiles, on background threads that share
// the cores with the registry, much code it stops running moments later. With four times that
// budget: `import-kolla` of Kolla 1.72 → 1.50 s, `bundle` of 187 images 3.40 → 3.15 s, the r2
// promotion's CPU 1,140 → 1,020 ms, and 5 s of hot YAML parsing is still 3 % faster, not slower
// (bench/README.md, "Twelfth round"). Node 24's V8 counts calls instead and has no such flag.
if (major === 20) v8.setFlagsFromString('--interrupt-budget=262144');
