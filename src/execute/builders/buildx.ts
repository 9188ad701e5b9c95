// docker buildx: builds on any BuildKit builder (`--builder NAME`: docker-container, remote,
// Kubernetes). One platform is loaded into the local engine (`--load`) and pushed like docker's;
// several platforms make a manifest list the engine cannot hold, so the build pushes it itself
// (`--push`) and reports the digest from `--metadata-file`.
// Written against buildx's documented flags (docs.docker.com/reference/cli/docker/buildx/build);
// buildx is not installed on the development machine, so only the command lines are tested.
import { keyValues, networkFlag, noCacheFlag, repeated } from './argv.js';
import { defaultDockerBinary, dockerPush, dockerRemove, dockerRunArgv } from './docker.js';
import { BuildError } from './errors.js';
import { runLogged } from './process.js';
import type { Builder, BuildRequest, BuildResult } from './types.js';
import { type Workspace, withWorkspace } from './workspace.js';

export function buildxPushes(req: BuildRequest): boolean {
  return req.platforms.length > 1;
}

export function buildxBuildArgv(
  req: BuildRequest,
  ws: Workspace,
  metadataFile: string,
  builder: string | undefined,
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
    buildxPushes(req) ? '--push' : '--load',
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
  /** Tags a multi-platform build already pushed, with the manifest list's digest. */
  const pushed = new Map<string, string>();
  return {
    name: 'buildx',
    build: (req) =>
      withWorkspace(req.dockerfile, req.contextDir, async (ws): Promise<BuildResult> => {
        const metadataFile = ws.file('metadata.json');
        await runLogged(binary, buildxBuildArgv(req, ws, metadataFile, options.builder), {
          step: 'build',
          subject: req.image,
          logFile: req.logFile,
          signal: req.signal,
        });
        const meta = parseBuildxMetadata(await ws.read(metadataFile));
        const imageId = meta.configDigest ?? (await ws.read(ws.iidFile));
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
        if (!buildxPushes(req)) return { imageId };
        if (!meta.digest) {
          throw new BuildError({
            step: 'build',
            subject: req.image,
            exitCode: 0,
            summary: 'buildx pushed but reported no manifest digest',
            logFile: req.logFile,
            logTail: [],
            aborted: false,
          });
        }
        for (const tag of req.tags) pushed.set(tag, meta.digest);
        return { imageId, pushedDigest: meta.digest };
      }),
    push: async (ref, opts) => {
      const digest = pushed.get(ref);
      return digest ? { digest } : dockerPush(binary, ref, opts);
    },
    // A multi-platform image exists only in the registry, so it may be pulled for the command.
    runCommand: (ref, command, opts) =>
      runLogged(binary, dockerRunArgv(ref, command, pushed.has(ref) ? 'missing' : 'never'), {
        step: 'run',
        subject: ref,
        logFile: opts.logFile,
        signal: opts.signal,
        captureStdout: true,
      }),
    remove: (refs) =>
      dockerRemove(
        binary,
        refs.filter((ref) => !pushed.has(ref)),
      ),
  };
}
