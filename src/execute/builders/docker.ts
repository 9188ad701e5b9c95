// The Docker engine's own builders: classic, or BuildKit with DOCKER_BUILDKIT=1. Parents are
// never force-pulled (no `--pull`): a parent built in this apply is a local image, and one that
// only exists in the registry is pulled once because it is missing.
import { existsSync } from 'node:fs';
import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa } from 'execa';
import { ArchiveError, imageFromDockerArchive } from '../export/docker-archive.js';
import { readImageArchive } from '../export/image-tar.js';
import { tailLines } from '../logs.js';
import { keyValues, networkFlag, noCacheFlag, repeated, singlePlatformFlag } from './argv.js';
import { EngineApiError, engineSave, localEngineSocket, type SavedArchive } from './engine-api.js';
import { BuildError } from './errors.js';
import { KILL_GRACE_MS, runLogged, TAIL_LINES } from './process.js';
import type { Builder, BuildRequest, ExportedImage, ExportOptions, RunOptions } from './types.js';
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

/**
 * `docker save REF`, read as it streams: the config, and each layer written to `workDir` while it
 * is hashed (or only hashed, when the caller already has a layer of that size: see
 * ExportOptions.known). A hashed-only layer that is not the one expected means the export is
 * repeated once with every layer written. With `socket` (the local engine), the archive comes
 * from the Engine API instead of a `docker save` process (engine-api.ts).
 */
export async function dockerExport(
  binary: string,
  ref: string,
  opts: ExportOptions,
  socket: string | null = null,
): Promise<ExportedImage[]> {
  type Known = ExportOptions['known'];
  const read = (stream: Readable, known: Known) =>
    readImageArchive(stream, {
      workDir: opts.workDir,
      ...(known ? { known } : {}),
      ...(opts.compressInto ? { compressInto: opts.compressInto } : {}),
    });
  const viaCli = async (known: Known) => {
    await appendFile(opts.logFile, `$ ${binary} save ${ref}\n`);
    const child = execa(binary, ['save', ref], {
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: { file: opts.logFile, append: true },
      cancelSignal: opts.signal,
      forceKillAfterDelay: KILL_GRACE_MS,
      encoding: 'buffer',
      // The archive is read as it streams (readImageArchive): execa must not keep a copy of it.
      buffer: false,
      reject: false,
    });
    const reading = read(child.stdout, known);
    const [contents, result] = await Promise.all([reading.catch((e: unknown) => e), child]);
    if (result.failed) {
      throw await exportError(opts, ref, {
        exitCode: typeof result.exitCode === 'number' ? result.exitCode : null,
        summary: result.isCanceled
          ? 'docker save was cancelled'
          : `docker save exited with code ${result.exitCode}`,
        aborted: result.isCanceled || Boolean(opts.signal?.aborted),
      });
    }
    if (contents instanceof Error) throw contents;
    return contents as Awaited<typeof reading>;
  };
  const viaApi = async (engine: string, known: Known) => {
    await appendFile(opts.logFile, `$ GET /images/get?names=${ref} (docker save, Engine API on ${engine})\n`);
    let saved: SavedArchive;
    try {
      saved = await engineSave(engine, ref, opts.signal);
    } catch (e) {
      const aborted = Boolean(opts.signal?.aborted);
      const why = e instanceof EngineApiError ? `${e.message} (HTTP ${e.status})` : (e as Error).message;
      await appendFile(opts.logFile, `${why}\n`);
      throw await exportError(opts, ref, {
        exitCode: null,
        summary: aborted ? 'docker save was cancelled' : `the engine did not save the image: ${why}`,
        aborted,
      });
    }
    try {
      return await read(saved.stream, known);
    } catch (e) {
      if (opts.signal?.aborted)
        throw await exportError(opts, ref, {
          exitCode: null,
          summary: 'docker save was cancelled',
          aborted: true,
        });
      throw e;
    } finally {
      saved.stream.destroy();
      await saved.close().catch(() => {});
    }
  };
  const attempt = async (known: Known) => {
    await mkdir(dirname(opts.logFile), { recursive: true });
    const contents = socket ? await viaApi(socket, known) : await viaCli(known);
    return imageFromDockerArchive(contents, ref);
  };
  const known = opts.known && opts.known.size > 0 ? opts.known : undefined;
  try {
    const image = await attempt(known);
    // A layer that was only hashed must be one the caller knows; otherwise its bytes are needed.
    if (image.layers.some((l) => !l.file && !l.compressed && !known?.get(l.size)?.has(l.diffId)))
      return [await attempt(undefined)];
    return [image];
  } catch (e) {
    if (e instanceof ArchiveError && e.missingData) return [await attempt(undefined)];
    throw e;
  }
}

async function exportError(
  opts: ExportOptions,
  ref: string,
  what: { exitCode: number | null; summary: string; aborted: boolean },
): Promise<BuildError> {
  return new BuildError({
    step: 'export',
    subject: ref,
    exitCode: what.exitCode,
    summary: what.summary,
    logFile: opts.logFile,
    logTail: await tailLines(opts.logFile, TAIL_LINES),
    aborted: what.aborted,
  });
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

/**
 * The classic builder's cache lookup for a step (moby's image/cache getLocalCachedImage) lists the
 * candidate images — every parentless image of the engine for the first step after `FROM scratch`,
 * the parent's children otherwise — and then reads each one. An image removed in between, by
 * anyone on the host, fails the build with `unable to find image "sha256:…"`, though nothing is
 * wrong with it or with the Dockerfile. Such a build is run again (its finished steps come from
 * the cache); a few attempts outlast any removal. BuildKit has no such lookup.
 */
const CACHE_PROBE_RACE = /^unable to find image "sha256:[0-9a-f]{64}"$/;
export const CACHE_PROBE_ATTEMPTS = 8;

/**
 * The pause before attempt `attempt + 1`: removals come in bursts (a prune, another job's
 * cleanup), and an attempt right away would list the same images the burst is still removing.
 * 0.25 s, doubling, at most 4 s: the 8 attempts span about 17 s of waiting.
 */
export function cacheProbeBackoffMs(attempt: number): number {
  return Math.min(250 * 2 ** (attempt - 1), 4000);
}

export function lostCacheProbeRace(error: unknown): boolean {
  if (!(error instanceof BuildError) || error.aborted) return false;
  const last = error.logTail.findLast((line) => line.trim() !== '');
  return last !== undefined && CACHE_PROBE_RACE.test(last.trim());
}

/** Waits {@link cacheProbeBackoffMs}; a cancel meanwhile ends the build as a cancelled one. */
async function pauseBeforeAttempt(attempt: number, failed: BuildError, signal?: AbortSignal): Promise<void> {
  try {
    await sleep(cacheProbeBackoffMs(attempt), undefined, { signal });
  } catch {
    throw new BuildError({
      step: failed.step,
      subject: failed.subject,
      exitCode: null,
      summary: 'docker build was cancelled',
      logFile: failed.logFile,
      logTail: failed.logTail,
      aborted: true,
    });
  }
}

export function createDockerBuilder(options: { binary?: string; buildkit: boolean }): Builder {
  const binary = options.binary ?? defaultDockerBinary();
  // The local default engine exports through its API; a binary named by the caller exports itself.
  const socket = options.binary === undefined ? localEngineSocket() : null;
  const env = { DOCKER_BUILDKIT: options.buildkit ? '1' : '0' };
  return {
    name: 'docker',
    build: (req) =>
      withWorkspace(req.dockerfile, req.contextDir, async (ws) => {
        const argv = dockerBuildArgv(req, ws, options.buildkit);
        const run = {
          step: 'build',
          subject: req.image,
          logFile: req.logFile,
          signal: req.signal,
          env,
        } as const;
        for (let attempt = 1; ; attempt++) {
          try {
            await runLogged(binary, argv, run);
            break;
          } catch (error) {
            if (options.buildkit || attempt >= CACHE_PROBE_ATTEMPTS || !lostCacheProbeRace(error))
              throw error;
            await appendFile(
              req.logFile,
              `# arbor: the engine's layer-cache lookup met an image removed meanwhile; building again (attempt ${attempt + 1} of ${CACHE_PROBE_ATTEMPTS})\n`,
            );
            await pauseBeforeAttempt(attempt, error as BuildError, req.signal);
          }
        }
        return { imageId: await readImageId(ws, req) };
      }),
    export: (ref, opts) => dockerExport(binary, ref, opts, socket),
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
