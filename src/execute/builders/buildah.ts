// buildah: daemonless builds. `--isolation chroot` runs RUN steps without a container runtime
// (works in unprivileged CI containers) but always shares the host network, so a build asking for
// `--network none` uses OCI isolation (runc) instead. ARBOR_BUILDAH_ISOLATION overrides the choice.
import { execa } from 'execa';
import {
  containersBuild,
  containersBuildFlags,
  containersExport,
  storageDriver,
} from './containers-storage.js';
import { BuildError } from './errors.js';
import { runLogged } from './process.js';
import type { Builder, BuildRequest, RunOptions } from './types.js';
import type { Workspace } from './workspace.js';

export function buildahIsolation(network: string): string {
  return process.env.ARBOR_BUILDAH_ISOLATION || (network === 'none' ? 'oci' : 'chroot');
}

export function buildahBuildArgv(req: BuildRequest, ws: Workspace, storage: string): string[] {
  return [
    '--storage-driver',
    storage,
    'bud',
    '--isolation',
    buildahIsolation(req.network),
    // buildah's `false`: pull only a missing base, never refresh one that is present.
    '--pull=false',
    ...containersBuildFlags('buildah', req, ws),
  ];
}

/** The image as an OCI layout whose layers stay uncompressed: arbor compresses them itself. */
export function buildahExportArgv(ref: string, dir: string, storage: string): string[] {
  return [
    '--storage-driver',
    storage,
    'push',
    '--quiet',
    '--disable-compression',
    '--format',
    'oci',
    ref,
    `oci:${dir}`,
  ];
}

export function createBuildahBuilder(options: { binary?: string } = {}): Builder {
  const binary = options.binary ?? 'buildah';
  const storage = storageDriver();
  return {
    name: 'buildah',
    build: containersBuild(binary, (req, ws) => buildahBuildArgv(req, ws, storage)),
    export: (ref, opts) => containersExport(binary, (dir) => buildahExportArgv(ref, dir, storage), ref, opts),
    runCommand: (ref, command, opts) => buildahRun(binary, storage, ref, command, opts),
    remove: (refs) => removeContainersImages(binary, storage, refs),
  };
}

/** buildah has no `run IMAGE`: a working container from the image, the command, then the container goes. */
async function buildahRun(binary: string, storage: string, ref: string, command: string, opts: RunOptions) {
  const common = { subject: ref, logFile: opts.logFile, signal: opts.signal } as const;
  const container = (
    await runLogged(binary, ['--storage-driver', storage, 'from', '--pull=false', ref], {
      ...common,
      step: 'run',
      captureStdout: true,
    })
  ).trim();
  try {
    return await runLogged(
      binary,
      [
        '--storage-driver',
        storage,
        'run',
        '--isolation',
        buildahIsolation('none'),
        '--network',
        'none',
        container,
        '--',
        'sh',
        '-c',
        command,
      ],
      { ...common, step: 'run', captureStdout: true },
    );
  } finally {
    // Not cancellable, and never hiding the command's own outcome: a leftover container is only clutter.
    await runLogged(binary, ['--storage-driver', storage, 'rm', container], {
      ...common,
      step: 'remove',
      signal: undefined,
    }).catch(() => undefined);
  }
}

/** `rmi` in containers/storage; images already gone are not an error. */
export async function removeContainersImages(binary: string, storage: string, refs: string[]): Promise<void> {
  if (refs.length === 0) return;
  const result = await execa(binary, ['--storage-driver', storage, 'rmi', ...refs], {
    reject: false,
    stdin: 'ignore',
  });
  const problems = result.stderr
    .split('\n')
    .filter((line) => line.trim() !== '' && !/image not known|no such image|not found/i.test(line));
  if (result.failed && problems.length > 0) {
    throw new BuildError({
      step: 'remove',
      subject: refs.join(' '),
      exitCode: result.exitCode ?? null,
      summary: `${binary} rmi failed`,
      logTail: problems,
      aborted: false,
    });
  }
}
