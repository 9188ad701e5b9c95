// The default images.yaml at the repository root renders completely: every image builds FROM the
// exact parent reference it is given, gets its build args, and the per-image override applies.
// (Building it for real is the CLI's integration test; this one needs no engine.)
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load.js';
import type { ImageConfig } from '../../../src/config/model.js';
import { createRenderer } from '../../../src/render/render.js';

const IMAGES_YAML = fileURLToPath(new URL('../../../images.yaml', import.meta.url));

function depth(images: Map<string, ImageConfig>, image: ImageConfig): number {
  return image.parent === undefined ? 0 : 1 + depth(images, images.get(image.parent)!);
}

describe('the default image family', async () => {
  const config = await loadConfig(IMAGES_YAML);
  const byName = new Map(config.images.map((image) => [image.name, image]));
  const renderer = createRenderer(config);
  const parentRef = (image: ImageConfig) =>
    image.parent ? `127.0.0.1:5000/arbor-demo/${image.parent}:fp-${'0'.repeat(24)}` : 'scratch';

  it('is a tree of at least 8 images, 3 levels deep, with each kind of input', () => {
    expect(config.images.length).toBeGreaterThanOrEqual(8);
    expect(Math.max(...config.images.map((image) => depth(byName, image)))).toBeGreaterThanOrEqual(3);
    expect(config.images.some((image) => image.inputs.files.some((glob) => glob.includes('*')))).toBe(true);
    expect(config.images.some((image) => image.inputs.env.length > 0)).toBe(true);
    expect(config.images.some((image) => Object.keys(image.args).length > 0)).toBe(true);
    expect(config.images.some((image) => image.platforms.includes('linux/amd64'))).toBe(true);
    expect(config.images.some((image) => image.override !== undefined)).toBe(true);
    expect(config.registry).toMatchObject({ url: '127.0.0.1:5000', namespace: 'arbor-demo', insecure: true });
  });

  it.each(config.images.map((image) => [image.name, image] as const))('renders %s', (_name, image) => {
    const dockerfile = renderer.renderDockerfile(image, parentRef(image));
    const from = dockerfile.split('\n').filter((line) => line.startsWith('FROM '));
    expect(from).toEqual([`FROM ${parentRef(image)}`]);
    for (const [name, value] of Object.entries(image.args))
      expect(dockerfile).toContain(`ARG ${name}="${value}"`);
    expect(dockerfile).toContain(`org.opencontainers.image.title="${image.name}"`);
    expect(dockerfile).not.toMatch(/\{\{|\{%/);
  });

  it('installs busybox into the base image from scratch', () => {
    const base = renderer.renderDockerfile(byName.get('base')!, 'scratch');
    expect(base).toContain('COPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]');
  });

  it('applies the glance-api override on top of its own template', () => {
    const image = byName.get('glance-api')!;
    expect(renderer.templateChain(image)).toEqual([
      'glance-api.Dockerfile.njk',
      'overrides/glance-api-debug.Dockerfile.njk',
    ]);
    expect(renderer.renderDockerfile(image, parentRef(image))).toMatch(
      /COPY glance-api.conf policy.yaml \/etc\/glance\/\nRUN sed -i .*debug = true/,
    );
  });
});
