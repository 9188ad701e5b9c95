// Small real trees in temp directories and a hand-made Config, for the fingerprint tests.
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Config, ImageConfig } from '../../../src/config/model.js';
import type { SourceLocation } from '../../../src/errors.js';
import { type FingerprintRequest, fingerprintImages } from '../../../src/fingerprint/compute.js';

const created: string[] = [];

export async function tempDir(prefix = 'arbor-fp-'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  created.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  await Promise.all(created.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
}

/** A tree entry: file content (string), `{ content, mode }`, `{ link }`, or `{ dir }`. */
export type Spec =
  | string
  | { content: string; mode?: number }
  | { link: string }
  | { dir: true; mode?: number };

export async function writeTree(root: string, tree: Record<string, Spec>): Promise<void> {
  for (const [rel, spec] of Object.entries(tree)) {
    const abs = path.join(root, rel);
    await mkdir(path.dirname(abs), { recursive: true });
    if (typeof spec === 'string') await writeFile(abs, spec);
    else if ('link' in spec) await symlink(spec.link, abs);
    else if ('dir' in spec) {
      await mkdir(abs, { recursive: true });
      if (spec.mode !== undefined) await chmod(abs, spec.mode);
    } else {
      await writeFile(abs, spec.content);
      if (spec.mode !== undefined) await chmod(abs, spec.mode);
    }
  }
}

/** Where `config.locate(path)` says a node is: the path itself, so tests can check it. */
export function locationOf(nodePath: ReadonlyArray<string | number>): SourceLocation {
  return { file: `images.yaml#${nodePath.join('.')}`, line: 1, col: 1 };
}

export type ImageSpec = Partial<ImageConfig> & { name: string };

export function makeConfig(root: string, images: ImageSpec[]): Config {
  return {
    file: path.join(root, 'images.yaml'),
    root,
    templatesDir: path.join(root, 'templates'),
    configDigest: `sha256:${'0'.repeat(64)}`,
    version: 1,
    registry: { url: '127.0.0.1:5000', namespace: 'test', insecure: true },
    builder: { name: 'docker', buildkit: true, network: 'none' },
    releases: { tag: '{{ release }}', repository: 'arbor-releases', record: true, deltas: false },
    promote: [],
    variables: {},
    env: [],
    tags: [],
    templateOverrides: [],
    fingerprint: { tagPrefix: 'fp-' },
    images: images.map((image) => ({
      inputs: { files: [], env: [] },
      args: {},
      platforms: [],
      labels: {},
      loc: locationOf(['images', image.name]),
      ...image,
    })),
    retention: [],
    locate: locationOf,
  };
}

/** Parents before children, in the order given otherwise. */
export function topological(config: Config): string[] {
  const order: string[] = [];
  const visit = (name: string) => {
    if (order.includes(name)) return;
    const image = config.images.find((i) => i.name === name)!;
    if (image.parent) visit(image.parent);
    order.push(name);
  };
  for (const image of config.images) visit(image.name);
  return order;
}

/** A trivial renderer: FROM the parent reference, then the image's own text. */
export function simpleRenderer(extra: Record<string, string> = {}) {
  return (image: ImageConfig, parentRef: string | null) =>
    `FROM ${parentRef ?? 'scratch'}\n${extra[image.name] ?? `RUN echo ${image.name}`}\n`;
}

export async function fingerprintAll(
  config: Config,
  options: Partial<Omit<FingerprintRequest, 'config'>> = {},
): Promise<Map<string, string>> {
  const result = await fingerprintImages(request(config, options));
  return new Map([...result].map(([name, image]) => [name, image.fingerprint]));
}

export function request(
  config: Config,
  options: Partial<Omit<FingerprintRequest, 'config'>> = {},
): FingerprintRequest {
  return {
    config,
    order: topological(config),
    renderDockerfile: simpleRenderer(),
    resolveBase: async (ref) => {
      throw new Error(`unexpected resolveBase(${ref})`);
    },
    env: {},
    ...options,
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
