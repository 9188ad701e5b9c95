// Command lines of every builder, checked flag by flag. buildx is not installed on the
// development machine, so this is where its contract with `docker buildx build` is pinned.
import { describe, expect, it } from 'vitest';
import { ArborError } from '../../../src/errors.js';
import {
  buildahBuildArgv,
  buildahExportArgv,
  buildahIsolation,
} from '../../../src/execute/builders/buildah.js';
import { buildxBuildArgv, parseBuildxMetadata } from '../../../src/execute/builders/buildx.js';
import { dockerBuildArgv, dockerRunArgv } from '../../../src/execute/builders/docker.js';
import { createBuilder } from '../../../src/execute/builders/index.js';
import { podmanBuildArgv, podmanRunArgv } from '../../../src/execute/builders/podman.js';
import type { BuildRequest } from '../../../src/execute/builders/types.js';
import type { Workspace } from '../../../src/execute/builders/workspace.js';

const ws: Workspace = {
  dockerfile: '/tmp/ws/Dockerfile',
  context: '/ctx',
  iidFile: '/tmp/ws/iid',
  file: (name) => `/tmp/ws/${name}`,
  read: async () => undefined,
  dispose: async () => {},
};

const req = (over: Partial<BuildRequest> = {}): BuildRequest => ({
  image: 'keystone',
  contextDir: '/ctx',
  dockerfile: 'FROM scratch',
  tags: ['127.0.0.1:5000/os/keystone:fp-abc', '127.0.0.1:5000/os/keystone:2025.1'],
  buildArgs: { Z_LAST: 'z', A_FIRST: 'a b' },
  labels: { 'org.arbor.fingerprint': 'sha256:1', 'org.opencontainers.image.revision': 'deadbeef' },
  network: 'none',
  platforms: [],
  logFile: '/tmp/log',
  ...over,
});

const common = [
  '--tag',
  '127.0.0.1:5000/os/keystone:fp-abc',
  '--tag',
  '127.0.0.1:5000/os/keystone:2025.1',
  '--build-arg',
  'A_FIRST=a b',
  '--build-arg',
  'Z_LAST=z',
  '--label',
  'org.arbor.fingerprint=sha256:1',
  '--label',
  'org.opencontainers.image.revision=deadbeef',
];

describe('docker', () => {
  it('builds classic with --force-rm and BuildKit with plain progress; never --pull', () => {
    expect(dockerBuildArgv(req(), ws, false)).toEqual([
      'build',
      '--file',
      '/tmp/ws/Dockerfile',
      '--iidfile',
      '/tmp/ws/iid',
      '--force-rm',
      '--network',
      'none',
      ...common,
      '/ctx',
    ]);
    const kit = dockerBuildArgv(req({ network: 'default', platforms: ['linux/arm64'] }), ws, true);
    expect(kit).toEqual([
      'build',
      '--file',
      '/tmp/ws/Dockerfile',
      '--iidfile',
      '/tmp/ws/iid',
      '--progress',
      'plain',
      '--platform',
      'linux/arm64',
      ...common,
      '/ctx',
    ]);
    expect(kit.some((a) => a.startsWith('--pull'))).toBe(false);
  });

  it('refuses several platforms, naming the image and the builder that can', () => {
    const call = () => dockerBuildArgv(req({ platforms: ['linux/amd64', 'linux/arm64'] }), ws, true);
    expect(call).toThrow(ArborError);
    expect(call).toThrow(
      /image keystone: builder docker \(BuildKit\) builds one platform at a time.*use the buildx builder/,
    );
  });

  it('runs a fingerprint command without network or entrypoint', () => {
    expect(dockerRunArgv('r:1', 'dpkg-query -W', 'never')).toEqual([
      'run',
      '--rm',
      '--network',
      'none',
      '--pull=never',
      '--entrypoint',
      'sh',
      'r:1',
      '-c',
      'dpkg-query -W',
    ]);
  });
});

describe('buildah and podman', () => {
  it('buildah: vfs storage, chroot unless the network must be none, pull only a missing base', () => {
    expect(buildahIsolation('none')).toBe('oci');
    expect(buildahIsolation('host')).toBe('chroot');
    expect(buildahBuildArgv(req({ insecure: true }), ws, 'vfs')).toEqual([
      '--storage-driver',
      'vfs',
      'bud',
      '--isolation',
      'oci',
      '--pull=false',
      '--layers',
      '--file',
      '/tmp/ws/Dockerfile',
      '--iidfile',
      '/tmp/ws/iid',
      '--tls-verify=false',
      '--network',
      'none',
      ...common,
      '/ctx',
    ]);
    // The image leaves buildah as an OCI layout with uncompressed layers: arbor compresses them.
    expect(buildahExportArgv('h:5000/a/b:1', '/tmp/d', 'vfs')).toEqual([
      '--storage-driver',
      'vfs',
      'push',
      '--quiet',
      '--disable-compression',
      '--format',
      'oci',
      'h:5000/a/b:1',
      'oci:/tmp/d',
    ]);
  });

  it('podman: --pull=missing, and fingerprint commands within the host rlimits', () => {
    expect(podmanBuildArgv(req({ network: 'host' }), ws, 'vfs')).toEqual([
      '--storage-driver',
      'vfs',
      'build',
      '--pull=missing',
      '--layers',
      '--file',
      '/tmp/ws/Dockerfile',
      '--iidfile',
      '/tmp/ws/iid',
      '--network',
      'host',
      ...common,
      '/ctx',
    ]);
    const run = podmanRunArgv('r:1', 'true', 'vfs');
    expect(run.slice(0, 3)).toEqual(['--storage-driver', 'vfs', 'run']);
    expect(run).toContain('--pull=never');
    expect(run.slice(-4)).toEqual(['sh', 'r:1', '-c', 'true']);
  });
});

describe('buildx', () => {
  it('loads a single-platform image into the engine, on the named builder', () => {
    expect(buildxBuildArgv(req(), ws, '/tmp/ws/metadata.json', 'k8s-builder')).toEqual([
      'buildx',
      'build',
      '--builder',
      'k8s-builder',
      '--progress',
      'plain',
      '--file',
      '/tmp/ws/Dockerfile',
      '--iidfile',
      '/tmp/ws/iid',
      '--metadata-file',
      '/tmp/ws/metadata.json',
      '--network',
      'none',
      ...common,
      '--load',
      '/ctx',
    ]);
  });

  it('writes a multi-platform image as an OCI archive for arbor to upload (a manifest list cannot be loaded)', () => {
    const argv = buildxBuildArgv(
      req({ platforms: ['linux/amd64', 'linux/arm64'] }),
      ws,
      '/m',
      undefined,
      '/tmp/x/image.tar',
    );
    expect(argv).not.toContain('--builder');
    expect(argv).not.toContain('--load');
    expect(argv).not.toContain('--push');
    expect(argv.slice(-3)).toEqual([
      '--output',
      'type=oci,dest=/tmp/x/image.tar,compression=uncompressed',
      '/ctx',
    ]);
    expect(argv[argv.indexOf('--platform') + 1]).toBe('linux/amd64,linux/arm64');
  });

  it('reads digests from the metadata file', () => {
    const d = `sha256:${'b'.repeat(64)}`;
    const c = `sha256:${'c'.repeat(64)}`;
    expect(
      parseBuildxMetadata(JSON.stringify({ 'containerimage.digest': d, 'containerimage.config.digest': c })),
    ).toEqual({
      digest: d,
      configDigest: c,
    });
    expect(parseBuildxMetadata('not json')).toEqual({});
    expect(parseBuildxMetadata(undefined)).toEqual({});
  });
});

describe('createBuilder', () => {
  it('returns the builder images.yaml names', () => {
    for (const name of ['docker', 'buildah', 'podman', 'buildx'] as const) {
      expect(createBuilder({ name, buildkit: false, network: 'none' }).name).toBe(name);
    }
  });
});
