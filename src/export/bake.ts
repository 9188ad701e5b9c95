// A docker-bake.json: every image the plan builds is a target, so `docker buildx bake --push` on a
// remote or Kubernetes BuildKit builder builds the whole plan in parallel. A child that builds
// FROM a parent built in the same bake gets the parent's result as a named context.
// https://docs.docker.com/build/bake/contexts/ ; file format: https://docs.docker.com/build/bake/reference/
import { posix } from 'node:path';
import { topologicalImages, uniqueId } from './jobs.js';
import type { ExportImage } from './model.js';

export interface BakeTarget {
  context: string;
  dockerfile: string;
  contexts?: Record<string, string>;
  args?: Record<string, string>;
  labels?: Record<string, string>;
  tags: string[];
  platforms?: string[];
}

export interface BakeFile {
  group: { default: { targets: string[] } };
  target: Record<string, BakeTarget>;
}

/**
 * The named-context key BuildKit looks up for `FROM ref`: the reference in its familiar form
 * (`docker.io/library/` dropped) with a trailing `:latest` removed. The tag and digest stay part
 * of the key, so the key must be the parent reference exactly as the Dockerfile writes it.
 */
export function contextKey(ref: string): string {
  let name = ref;
  if (name.startsWith('docker.io/library/')) name = name.slice('docker.io/library/'.length);
  else if (name.startsWith('docker.io/')) name = name.slice('docker.io/'.length);
  return name.endsWith(':latest') ? name.slice(0, -':latest'.length) : name;
}

export function toBake(images: ExportImage[]): BakeFile {
  const builds = topologicalImages(images).filter((i) => i.action === 'build');
  const targetOf = new Map<string, string>();
  const taken = new Set<string>();
  for (const image of builds) targetOf.set(image.name, uniqueId(image.name, taken));

  const target: Record<string, BakeTarget> = {};
  for (const image of builds) {
    // bake resolves `dockerfile` against `context`. An image without a context builds from the
    // directory of its rendered Dockerfile, which holds nothing else.
    const context = image.context ?? posix.dirname(image.dockerfile);
    const parentTarget = image.parent ? targetOf.get(image.parent) : undefined;
    target[targetOf.get(image.name)!] = {
      context,
      dockerfile: posix.relative(context, image.dockerfile),
      ...(parentTarget && image.parentRef
        ? { contexts: { [contextKey(image.parentRef)]: `target:${parentTarget}` } }
        : {}),
      ...(Object.keys(image.args).length > 0 ? { args: image.args } : {}),
      ...(Object.keys(image.labels).length > 0 ? { labels: image.labels } : {}),
      tags: image.tags,
      ...(image.platforms.length > 0 ? { platforms: image.platforms } : {}),
    };
  }
  return { group: { default: { targets: builds.map((i) => targetOf.get(i.name)!) } }, target };
}

export function toBakeJson(images: ExportImage[]): string {
  return `${JSON.stringify(toBake(images), null, 2)}\n`;
}
