import { removeContainersImages } from './buildah.js';
import {
  containersBuild,
  containersBuildFlags,
  containersExport,
  storageDriver,
} from './containers-storage.js';
import { runLogged } from './process.js';
import type { Builder, BuildRequest } from './types.js';
import type { Workspace } from './workspace.js';

export function podmanBuildArgv(req: BuildRequest, ws: Workspace, storage: string): string[] {
  return [
    '--storage-driver',
    storage,
    'build',
    // Pull only a missing base; never refresh a parent built in this apply.
    '--pull=missing',
    ...containersBuildFlags('podman', req, ws),
  ];
}

export function podmanRunArgv(ref: string, command: string, storage: string): string[] {
  return [
    '--storage-driver',
    storage,
    'run',
    '--rm',
    '--network',
    'none',
    '--pull=never',
    // podman's default rlimits (nofile 1048576) exceed the hard limit of hosts and CI containers
    // without CAP_SYS_RESOURCE, and runc then refuses to start; a fingerprint command needs few.
    '--ulimit',
    'nofile=1024:1024',
    '--ulimit',
    'nproc=1024:1024',
    '--entrypoint',
    'sh',
    ref,
    '-c',
    command,
  ];
}

/** The image as an OCI layout whose layers stay uncompressed: arbor compresses them itself. */
export function podmanExportArgv(ref: string, dir: string, storage: string): string[] {
  return [
    '--storage-driver',
    storage,
    'save',
    '--quiet',
    '--format',
    'oci-dir',
    '--uncompressed',
    '-o',
    dir,
    ref,
  ];
}

export function createPodmanBuilder(options: { binary?: string } = {}): Builder {
  const binary = options.binary ?? 'podman';
  const storage = storageDriver();
  return {
    name: 'podman',
    build: containersBuild(binary, (req, ws) => podmanBuildArgv(req, ws, storage)),
    export: (ref, opts) => containersExport(binary, (dir) => podmanExportArgv(ref, dir, storage), ref, opts),
    runCommand: (ref, command, opts) =>
      runLogged(binary, podmanRunArgv(ref, command, storage), {
        step: 'run',
        subject: ref,
        logFile: opts.logFile,
        signal: opts.signal,
        captureStdout: true,
      }),
    remove: (refs) => removeContainersImages(binary, storage, refs),
  };
}
