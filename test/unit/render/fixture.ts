// Hand-built Config values and throwaway template directories for the render tests.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Config, ImageConfig } from '../../../src/config/model.js';
import type { SourceLocation } from '../../../src/errors.js';

/** A temp directory holding images.yaml's neighbours: `templates/…` and any other file given. */
export function makeTree(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'arbor-render-'));
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(root, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
  return root;
}

export function makeImage(name: string, fields: Partial<ImageConfig> = {}): ImageConfig {
  return {
    name,
    inputs: { files: [], env: [] },
    args: {},
    platforms: [],
    labels: {},
    loc: { file: 'images.yaml', line: 1, col: 1 },
    ...fields,
  };
}

/**
 * A Config over `root`. `positions` gives the location of document paths (joined with "."),
 * so a test can check that an error points at the right node.
 */
export function makeConfig(
  root: string,
  fields: Partial<Config> = {},
  positions: Record<string, Omit<SourceLocation, 'file'>> = {},
): Config {
  const file = path.join(root, 'images.yaml');
  return {
    file,
    root,
    templatesDir: path.join(root, 'templates'),
    configDigest: 'sha256:0',
    version: 1,
    registry: { url: '127.0.0.1:5000', namespace: 'demo', insecure: true },
    builder: { name: 'docker', buildkit: true, network: 'none' },
    releases: { tag: '{{ release }}', repository: 'arbor-releases', record: true, deltas: false },
    promote: [],
    variables: {},
    env: [],
    tags: [],
    templateOverrides: [],
    fingerprint: { tagPrefix: 'fp-' },
    images: [],
    retention: [],
    locate(p) {
      for (let n = p.length; n >= 0; n--) {
        const at = positions[p.slice(0, n).join('.')];
        if (at) return { file, ...at };
      }
      return { file, line: 1, col: 1 };
    },
    ...fields,
  };
}
