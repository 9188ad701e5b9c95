// The Docker engine's own builders: classic, or BuildKit with DOCKER_BUILDKIT=1. Parents are
// never force-pulled (no `--pull`): a parent built in this apply is a local image, and one that
// only exists in the registry is pulled once because it is missing.
import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { keyValues, networkFlag, noCacheFlag, repeated, singlePlatformFlag } from './argv.js';
import { BuildError } from './errors.js';
import { runLogged } from './process.js';
import type { Builder, BuildRequest, PushOptions, PushResult, RunOptions } from './types.js';
import { type Workspace, withWorkspace } from './workspace.js';

/**
 * `ARBOR_DOCKER`, else Debian's /usr/bin/docker (it matches the 20.10 daemon and builds with
 * BuildKit without the buildx plugin a newer client on PATH insists on), else `docker`.
 */
export function defaultDockerBinary(): string {
  return process.env.ARBOR_DOCKER || (existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker');
}

export function dockerBuildArgv(req: BuildRequest, ws: Workspace, buildkit: boolean): string[] {
  return [
    'build',
    '--file',
    ws.dockerfile,
    '--iidfile',
    ws.iidFile,
    // BuildKit's TTY progress is unreadable in a file; the classic builder removes failed containers.
    ...(buildkit ? ['--progress', 'plain'] : ['--force-rm']),
    ...noCacheFlag(req),
    ...networkFlag(req.network),
    ...singlePlatformFlag(buildkit ? 'docker (BuildKit)' : 'docker', req),
    ...repeated('--tag', req.tags),
    ...keyValues('--build-arg', req.buildArgs),
    ...keyValues('--label', req.labels),
    ws.context,
  ];
}

/** `docker run` for a content fingerprint: no network, the image's entrypoint bypassed. */
export function dockerRunArgv(ref: string, command: string, pull: 'never' | 'missing'): string[] {
  return ['run', '--rm', '--network', 'none', `--pull=${pull}`, '--entrypoint', 'sh', ref, '-c', command];
}

/** The digest line docker prints last: `2025.1: digest: sha256:… size: 1234`. */
export function parseDockerPushDigest(output: string): string | undefined {
  const matches = [...output.matchAll(/digest: (sha256:[0-9a-f]{64}) size: \d+/g)];
  return matches.at(-1)?.[1];
}

/** Layers docker reports as `<id>: Pushed` (the others say `Layer already exists` or `Mounted from …`). */
export function parseDockerPushedLayers(output: string): string[] {
  return [...output.matchAll(/^([0-9a-f]{12,64}): Pushed\s*$/gm)].map((m) => m[1]!);
}

export async function dockerPush(binary: string, ref: string, opts: PushOptions): Promise<PushResult> {
  const output = await runLogged(binary, ['push', ref], {
    step: 'push',
    subject: ref,
    logFile: opts.logFile,
    signal: opts.signal,
    captureStdout: true,
  });
  const digest = parseDockerPushDigest(output);
  if (!digest) {
    throw new BuildError({
      step: 'push',
      subject: ref,
      exitCode: 0,
      summary: 'docker push printed no manifest digest',
      logFile: opts.logFile,
      logTail: output.split('\n').slice(-5),
      aborted: false,
    });
  }
  return { digest, uploadedLayers: parseDockerPushedLayers(output) };
}

export async function dockerRemove(binary: string, refs: string[]): Promise<void> {
  if (refs.length === 0) return;
  const result = await execa(binary, ['rmi', ...refs], { reject: false, stdin: 'ignore' });
  const problems = result.stderr
    .split('\n')
    .filter((line) => line.trim() !== '' && !/No such image/i.test(line));
  if (result.failed && problems.length > 0) {
    throw new BuildError({
      step: 'remove',
      subject: refs.join(' '),
      exitCode: result.exitCode ?? null,
      summary: 'docker rmi failed',
      logTail: problems,
      aborted: false,
    });
  }
}

export function createDockerBuilder(options: { binary?: string; buildkit: boolean }): Builder {
  const binary = options.binary ?? defaultDockerBinary();
  const env = { DOCKER_BUILDKIT: options.buildkit ? '1' : '0' };
  return {
    name: 'docker',
    build: (req) =>
      withWorkspace(req.dockerfile, req.contextDir, async (ws) => {
        await runLogged(binary, dockerBuildArgv(req, ws, options.buildkit), {
          step: 'build',
          subject: req.image,
          logFile: req.logFile,
          signal: req.signal,
          env,
        });
        return { imageId: await readImageId(ws, req) };
      }),
    push: (ref, opts) => dockerPush(binary, ref, opts),
    runCommand: (ref, command, opts: RunOptions) =>
      runLogged(binary, dockerRunArgv(ref, command, 'never'), {
        step: 'run',
        subject: ref,
        logFile: opts.logFile,
        signal: opts.signal,
        captureStdout: true,
      }),
    remove: (refs) => dockerRemove(binary, refs),
  };
}

/** The id every tool writes with `--iidfile`; a build that "succeeds" without one is broken. */
export async function readImageId(ws: Workspace, req: BuildRequest): Promise<string> {
  const id = await ws.read(ws.iidFile);
  if (!id) {
    throw new BuildError({
      step: 'build',
      subject: req.image,
      exitCode: 0,
      summary: 'the build finished but wrote no image id',
      logFile: req.logFile,
      logTail: [],
      aborted: false,
    });
  }
  return id.startsWith('sha256:') ? id : `sha256:${id}`;
}
