import { join } from 'node:path';
import { imagesFromOciLayout, layoutDirectory } from '../export/oci-layout.js';
import { keyValues, networkFlag, noCacheFlag, repeated, singlePlatformFlag } from './argv.js';
import { readImageId } from './docker.js';
import { runLogged } from './process.js';
import type { Builder, BuildRequest, ExportedImage, ExportOptions } from './types.js';
import { type Workspace, withWorkspace } from './workspace.js';

// buildah and podman share containers/storage. vfs works everywhere, including inside containers
// where overlay-on-overlay is refused; ARBOR_STORAGE_DRIVER picks another (e.g. overlay) where it works.
// Both tools must use the same driver, or each would see an empty image store.
export function storageDriver(): string {
  return process.env.ARBOR_STORAGE_DRIVER || 'vfs';
}

/** `--tls-verify=false` for a plain-HTTP registry (pull of a missing parent, or push). */
export function tlsFlag(insecure: boolean | undefined): string[] {
  return insecure ? ['--tls-verify=false'] : [];
}

/**
 * The build flags buildah and podman spell alike, after each tool's own (subcommand, pull policy,
 * isolation): layer caching, Dockerfile, image-id file, TLS, cache, network, platform, tags, build
 * args, labels, then the context directory.
 */
export function containersBuildFlags(tool: 'buildah' | 'podman', req: BuildRequest, ws: Workspace): string[] {
  return [
    '--layers',
    '--file',
    ws.dockerfile,
    '--iidfile',
    ws.iidFile,
    ...tlsFlag(req.insecure),
    ...noCacheFlag(req),
    ...networkFlag(req.network),
    ...singlePlatformFlag(tool, req),
    ...repeated('--tag', req.tags),
    ...keyValues('--build-arg', req.buildArgs),
    ...keyValues('--label', req.labels),
    ws.context,
  ];
}

/**
 * The built image as an OCI layout with uncompressed layers, from buildah (`push
 * --disable-compression REF oci:DIR`) or podman (`save --format oci-dir --uncompressed`), read
 * in place: the layer files are the layout's own blobs.
 */
export async function containersExport(
  binary: string,
  argv: (dir: string) => string[],
  ref: string,
  opts: ExportOptions,
): Promise<ExportedImage[]> {
  const dir = join(opts.workDir, 'layout');
  await runLogged(binary, argv(dir), {
    step: 'export',
    subject: ref,
    logFile: opts.logFile,
    signal: opts.signal,
  });
  return imagesFromOciLayout(layoutDirectory(dir), opts.workDir, ref);
}

/**
 * Builder.build for the containers/storage tools: the same workspace, log and image-id handling,
 * each with its own command line.
 */
export function containersBuild(
  binary: string,
  argv: (req: BuildRequest, ws: Workspace) => string[],
): Builder['build'] {
  return (req) =>
    withWorkspace(req.dockerfile, req.contextDir, async (ws) => {
      await runLogged(binary, argv(req, ws), {
        step: 'build',
        subject: req.image,
        logFile: req.logFile,
        signal: req.signal,
      });
      return { imageId: await readImageId(ws, req) };
    });
}
