// Builds the CLI as one ES module (dist/bundle/arbor.mjs): start-up is dominated by resolving
// and loading hundreds of small modules, which a bundle does once. Dependencies are bundled too;
// the shim gives bundled CommonJS code a real `require` for Node's built-in modules.
import { rm } from 'node:fs/promises';
import { build } from 'esbuild';

// Chunk names carry a content hash: without this, every build would leave the last one's chunks
// behind (a checkout rebuilt for weeks held 960 files, 43 MB, of which 270 were in use).
await rm('dist/bundle', { recursive: true, force: true });
await build({
  entryPoints: { arbor: 'src/cli/main.ts' },
  outdir: 'dist/bundle',
  outExtension: { '.js': '.mjs' },
  // Each command's modules become chunks loaded only when that command runs.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.19',
  sourcemap: 'linked',
  legalComments: 'linked',
  // nunjucks' file watcher is never used (no `watch: true`); its optional dependency is absent.
  external: ['chokidar', 'fsevents'],
  banner: {
    js: "import { createRequire as __arborCreateRequire } from 'node:module'; const require = __arborCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
