// Shared by the import-kolla integration tests: the stand-in for a project's external base in a
// loopback registry, and fingerprints / subtrees of an imported project read through the CLI.
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import YAML from 'yaml';
import type { RegistryClient } from '../../src/registry/client.js';
import { arbor } from '../support/cli.js';
import { pushImage } from './registry-fixtures.js';

/** Pushes a stand-in at the reference of every image's `from:` (all under `host`). */
export async function pushStandIns(client: RegistryClient, host: string, imagesYaml: string): Promise<void> {
  const config = YAML.parse(readFileSync(imagesYaml, 'utf8')) as {
    images: Record<string, { from?: string }>;
  };
  for (const image of Object.values(config.images)) {
    if (image.from === undefined) continue;
    const ref = image.from.slice(host.length + 1);
    const at = ref.lastIndexOf(':');
    await pushImage(client, ref.slice(0, at), ref.slice(at + 1));
  }
}

/** `arbor fingerprint` of the project: image → fingerprint. */
export function fingerprintsOf(imagesYaml: string): Map<string, string> {
  const result = arbor(['fingerprint', '--format', 'json', '-f', imagesYaml]);
  expect(result.stderr).toBe('');
  const parsed = JSON.parse(result.stdout) as { images: Array<{ name: string; fingerprint: string }> };
  return new Map(parsed.images.map((i) => [i.name, i.fingerprint]));
}

/** The image and every image built on it, from `arbor graph`. */
export function subtreeOf(imagesYaml: string, name: string): Set<string> {
  const graph = JSON.parse(arbor(['graph', '--format', 'json', '-f', imagesYaml]).stdout) as {
    images: Array<{ name: string; children: string[] }>;
  };
  const children = new Map(graph.images.map((i) => [i.name, i.children]));
  const out = new Set([name]);
  const visit = (n: string) => {
    for (const c of children.get(n) ?? []) {
      out.add(c);
      visit(c);
    }
  };
  visit(name);
  return out;
}

/** The images whose fingerprint differs. */
export function changedImages(before: Map<string, string>, after: Map<string, string>): Set<string> {
  return new Set([...after].filter(([name, fp]) => before.get(name) !== fp).map(([name]) => name));
}
