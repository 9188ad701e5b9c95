// Builds the CLI as one ES module (dist/bundle/arbor.mjs): start-up is dominated by resolving
// and loading hundreds of small modules, which a bundle does once. Dependencies are bundled too;
// the shim gives bundled CommonJS code a real `require` for Node's built-in modules.
import { build } from 'esbuild';

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
