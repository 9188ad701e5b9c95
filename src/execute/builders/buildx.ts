// docker buildx: builds on any BuildKit builder (`--builder NAME`: docker-container, remote,
// Kubernetes). One platform is loaded into the local engine (`--load`) and exported like docker's
// (`docker save`); several platforms make a manifest list the engine cannot hold, so the build
// writes an OCI layout archive (`--output type=oci,compression=uncompressed`) that arbor reads and
// uploads itself, like every other builder's output.
// Written against buildx's documented flags (docs.docker.com/reference/cli/docker/buildx/build);
// buildx is not installed on the development machine, so only the command lines are tested.

import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readImageArchive } from '../export/image-tar.js';
import { imagesFromOciLayout, layoutArchive } from '../export/oci-layout.js';
import { keyValues, networkFlag, noCacheFlag, repeated } from './argv.js';
import { defaultDockerBinary, dockerExport, dockerRemove, dockerRunArgv } from './docker.js';
import { BuildError } from './errors.js';
import { runLogged } from './process.js';
import type { Builder, BuildRequest, BuildResult } from './types.js';
import { type Workspace, withWorkspace } from './workspace.js';

/** Several platforms: the result cannot be loaded into the engine, it is written as an OCI archive. */
export function buildxWritesArchive(req: BuildRequest): boolean {
  return req.platforms.length > 1;
}

export function buildxBuildArgv(
  req: BuildRequest,
  ws: Workspace,
  metadataFile: string,
  builder: string | undefined,
  archive?: string,
): string[] {
  return [
    'buildx',
    'build',
    ...(builder ? ['--builder', builder] : []),
    '--progress',
    'plain',
    '--file',
    ws.dockerfile,
    '--iidfile',
    ws.iidFile,
    '--metadata-file',
    metadataFile,
    ...noCacheFlag(req),
    ...networkFlag(req.network),
    ...(req.platforms.length > 0 ? ['--platform', req.platforms.join(',')] : []),
    ...repeated('--tag', req.tags),
    ...keyValues('--build-arg', req.buildArgs),
    ...keyValues('--label', req.labels),
    ...(archive ? ['--output', `type=oci,dest=${archive},compression=uncompressed`] : ['--load']),
    ws.context,
  ];
}

/** `containerimage.digest` (manifest or manifest list) and `containerimage.config.digest` from the metadata file. */
export function parseBuildxMetadata(json: string | undefined): { digest?: string; configDigest?: string } {
  if (!json) return {};
  try {
    const data = JSON.parse(json) as Record<string, unknown>;
    const str = (v: unknown) => (typeof v === 'string' && /^sha256:[0-9a-f]{64}$/.test(v) ? v : undefined);
    return {
      digest: str(data['containerimage.digest']),
      configDigest: str(data['containerimage.config.digest']),
    };
  } catch {
    return {};
  }
}

export function createBuildxBuilder(options: { binary?: string; builder?: string } = {}): Builder {
  const binary = options.binary ?? defaultDockerBinary();
  /** Multi-platform builds: the OCI archive each tag's build wrote. */
  const archives = new Map<string, string>();
  return {
    name: 'buildx',
    build: (req) =>
      withWorkspace(req.dockerfile, req.contextDir, async (ws): Promise<BuildResult> => {
        const metadataFile = ws.file('metadata.json');
        const archive = buildxWritesArchive(req)
          ? join(await mkdtemp(join(tmpdir(), 'arbor-buildx-')), 'image.tar')
          : undefined;
        await runLogged(binary, buildxBuildArgv(req, ws, metadataFile, options.builder, archive), {
          step: 'build',
          subject: req.image,
          logFile: req.logFile,
          signal: req.signal,
        });
        const meta = parseBuildxMetadata(await ws.read(metadataFile));
        const imageId = meta.configDigest ?? meta.digest ?? (await ws.read(ws.iidFile));
        if (!imageId) {
          throw new BuildError({
            step: 'build',
            subject: req.image,
            exitCode: 0,
            summary: 'buildx finished but reported no image id',
            logFile: req.logFile,
            logTail: [],
            aborted: false,
          });
        }
        if (archive) for (const tag of req.tags) archives.set(tag, archive);
        return { imageId };
      }),
    export: async (ref, opts) => {
      const archive = archives.get(ref);
      if (!archive) return dockerExport(binary, ref, opts);
      const contents = await readImageArchive(createReadStream(archive), { workDir: opts.workDir });
      for (const [tag, file] of archives) if (file === archive) archives.delete(tag);
      await rm(join(archive, '..'), { recursive: true, force: true });
      return imagesFromOciLayout(layoutArchive(contents), opts.workDir, ref);
    },
    runCommand: (ref, command, opts) => {
      if (archives.has(ref))
        throw new BuildError({
          step: 'run',
          subject: ref,
          exitCode: null,
          summary:
            'content_fingerprint is not supported for multi-platform buildx images (they are not in the engine)',
          logTail: [],
          aborted: false,
        });
      return runLogged(binary, dockerRunArgv(ref, command, 'never'), {
        step: 'run',
        subject: ref,
        logFile: opts.logFile,
        signal: opts.signal,
        captureStdout: true,
      });
    },
    remove: (refs) =>
      dockerRemove(
        binary,
        refs.filter((ref) => !archives.has(ref)),
      ),
  };
}
