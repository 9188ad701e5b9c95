// Content fingerprints without an engine: the hash of a command's output, the metadata-only
// build that stamps it as a label, the label reset on images that inherit a parent's, and the
// `--no-cache` flag every builder gets for `apply --refresh`.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ImageConfig } from '../../../src/config/model.js';
import { buildahBuildArgv } from '../../../src/execute/builders/buildah.js';
import { buildxBuildArgv } from '../../../src/execute/builders/buildx.js';
import { dockerBuildArgv } from '../../../src/execute/builders/docker.js';
import { podmanBuildArgv } from '../../../src/execute/builders/podman.js';
import type { BuildRequest } from '../../../src/execute/builders/types.js';
import type { Workspace } from '../../../src/execute/builders/workspace.js';
import {
  CONTENT_FINGERPRINT_LABEL,
  contentFingerprintOf,
  stampDockerfile,
  stampRequest,
} from '../../../src/execute/content-fingerprint.js';
import { imageLabels } from '../../../src/execute/labels.js';
import type { DesiredImage } from '../../../src/plan/desired.js';

const FP_REF = '127.0.0.1:5000/demo/base:fp-0123456789abcdef01234567';

const built: BuildRequest = {
  image: 'base',
  contextDir: '/ctx/base',
  dockerfile: 'FROM scratch\nCOPY busybox /bin/busybox\n',
  tags: ['127.0.0.1:5000/demo/base:2025.1', FP_REF],
  buildArgs: { VERSION: '1' },
  labels: { 'org.arbor.fingerprint': 'sha256:aa' },
  network: 'none',
  platforms: ['linux/amd64'],
  logFile: '/tmp/base.log',
  insecure: true,
  noCache: true,
};

describe('content fingerprint', () => {
  it('is the sha256 of the command output', () => {
    expect(contentFingerprintOf('')).toBe(
      'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect(contentFingerprintOf('abc')).toBe(
      'sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('tells any two different outputs apart', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        fc.pre(a !== b);
        expect(contentFingerprintOf(a)).not.toBe(contentFingerprintOf(b));
      }),
    );
  });
});

describe('stamping the label', () => {
  const fp = contentFingerprintOf('busybox v1.35.0\n42\n');

  it('is a metadata-only Dockerfile FROM the built image: no RUN, no COPY', () => {
    expect(stampDockerfile(FP_REF, fp)).toBe(`FROM ${FP_REF}\nLABEL ${CONTENT_FINGERPRINT_LABEL}="${fp}"\n`);
  });

  it('builds FROM the local fingerprint ref with docker, buildah and podman: same tags, empty context, cache allowed', () => {
    for (const name of ['docker', 'buildah', 'podman'] as const) {
      const stamp = stampRequest({ name }, built, FP_REF, fp);
      expect(stamp).toEqual({
        ...built,
        contextDir: null,
        dockerfile: stampDockerfile(FP_REF, fp),
        buildArgs: {},
        labels: {},
        noCache: false,
      });
    }
  });

  it('repeats the original build with the label added on buildx, whose builder may not see local images', () => {
    const stamp = stampRequest({ name: 'buildx' }, built, FP_REF, fp);
    expect(stamp).toEqual({
      ...built,
      labels: { ...built.labels, [CONTENT_FINGERPRINT_LABEL]: fp },
      noCache: false,
    });
  });
});

describe('labels of a build', () => {
  const desired = (config: Partial<ImageConfig>, parent: string | null): DesiredImage => ({
    name: 'x',
    config: {
      name: 'x',
      inputs: { files: [], env: [] },
      args: {},
      platforms: [],
      labels: {},
      loc: { file: 'images.yaml', line: 1, col: 1 },
      ...config,
    },
    repository: '127.0.0.1:5000/demo/x',
    repositoryPath: 'demo/x',
    parent,
    fingerprint: 'sha256:ff',
    fingerprintTag: 'fp-ff',
    tags: ['1'],
    dockerfile: '',
    parentRef: null,
    inputs: [],
    context: [],
    contextDir: null,
  });
  const at = { created: '2025-01-01T00:00:00Z', git: {}, env: {} };

  it('reset the content fingerprint an image would inherit from its parent', () => {
    expect(imageLabels(desired({ parent: 'base' }, 'base'), at)[CONTENT_FINGERPRINT_LABEL]).toBe('');
    expect(imageLabels(desired({ from: 'example.org/debian:12' }, null), at)[CONTENT_FINGERPRINT_LABEL]).toBe(
      '',
    );
  });

  it('leave it out on an image built FROM scratch (nothing to inherit)', () => {
    expect(imageLabels(desired({ from: 'scratch' }, null), at)).not.toHaveProperty(CONTENT_FINGERPRINT_LABEL);
  });
});

describe('--refresh rebuilds without the layer cache', () => {
  const ws: Workspace = {
    dockerfile: '/ws/Dockerfile',
    context: '/ctx',
    iidFile: '/ws/iid',
    file: (name) => `/ws/${name}`,
    read: async () => undefined,
    dispose: async () => {},
  };
  const request = (noCache: boolean): BuildRequest => ({ ...built, platforms: [], noCache });
  const argvs = (noCache: boolean) => ({
    docker: dockerBuildArgv(request(noCache), ws, false),
    buildkit: dockerBuildArgv(request(noCache), ws, true),
    buildah: buildahBuildArgv(request(noCache), ws, 'vfs'),
    podman: podmanBuildArgv(request(noCache), ws, 'vfs'),
    buildx: buildxBuildArgv(request(noCache), ws, '/ws/metadata.json', undefined),
  });

  it('passes --no-cache to every builder when asked, and only then', () => {
    for (const [builder, argv] of Object.entries(argvs(true))) {
      expect(
        argv.filter((a) => a === '--no-cache'),
        builder,
      ).toEqual(['--no-cache']);
    }
    for (const [builder, argv] of Object.entries(argvs(false))) {
      expect(argv, builder).not.toContain('--no-cache');
    }
  });
});
