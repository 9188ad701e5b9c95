// The delta encoding: `zstd --patch-from` of the uncompressed new layer against the uncompressed
// old layer (Debian's zstd 1.5.4 CLI), long matching over a window that covers the whole old
// layer. This file is the only place that runs zstd; docs/deltas.md has the measurements behind
// the choice and the parameters.
//
// Parameters: level 19 with the btlazy2 strategy and hash/chain tables sized to the old layer
// (chainLog = min(windowLog, 27), hashLog = chainLog - 2). On the Debian security-update layers
// (170 MB tar) that gives the size of plain `-19` (1.48 MB) in ≈ 1/15 of its CPU time (4.5 s vs
// 66 s); plain `-19` sizes its tables for a 8 MB window and then searches a 256 MB one. Decoding
// needs only the window (`--long=windowLog`), whatever the compression parameters were.
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { DeltaUnusable } from './errors.js';

export const ZSTD_PATCH_ENCODING = 'zstd-patch-from';

/** zstd's largest window on 64-bit machines: 2 GiB. Layers whose window would exceed it get no delta. */
export const MAX_WINDOW_LOG = 31;
const MIN_WINDOW_LOG = 10;
const MAX_CHAIN_LOG = 27;

export interface ZstdPatchParameters {
  encoding: typeof ZSTD_PATCH_ENCODING;
  /** The window (and the decoder's memory): 2^windowLog bytes, covering the old layer. */
  windowLog: number;
  level: number;
  strategy: 'btlazy2';
  chainLog: number;
  hashLog: number;
}

/** floor(log2(n)) for n ≥ 1. */
function highBit(n: number): number {
  return Math.floor(Math.log2(Math.max(1, n)));
}

/**
 * The parameters for these sizes (uncompressed bytes), as zstd's own `--patch-from` sizes its
 * window (highest bit of the larger file, plus one); undefined when the window would exceed 2 GiB.
 */
export function patchParameters(oldSize: number, newSize: number): ZstdPatchParameters | undefined {
  const windowLog = Math.max(MIN_WINDOW_LOG, highBit(Math.max(oldSize, newSize)) + 1);
  if (windowLog > MAX_WINDOW_LOG) return undefined;
  const chainLog = Math.min(windowLog, MAX_CHAIN_LOG);
  return {
    encoding: ZSTD_PATCH_ENCODING,
    windowLog,
    level: 19,
    strategy: 'btlazy2',
    chainLog,
    hashLog: chainLog - 2,
  };
}

const ZSTD = process.env.ARBOR_ZSTD ?? 'zstd';

interface ZstdRun {
  stdout: Readable;
  /** Resolves when zstd exited 0; rejects with its stderr otherwise. */
  done: Promise<void>;
}

function runZstd(args: string[], signal?: AbortSignal): ZstdRun {
  const child = spawn(ZSTD, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(signal ? { signal } : {}) });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    if (stderr.length < 4000) stderr += text;
  });
  const done = new Promise<void>((resolve, reject) => {
    child.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'ENOENT'
          ? new DeltaUnusable('unsupported', `${ZSTD} is not installed (scripts/setup-host.sh installs it)`)
          : e,
      ),
    );
    child.once('close', (code, sig) => {
      if (code === 0) resolve();
      else
        reject(
          new Error(
            `zstd ${args[0]} ${code === null ? `killed by ${sig}` : `exited ${code}`}: ${stderr.trim()}`,
          ),
        );
    });
  });
  return { stdout: child.stdout, done };
}

/** zstd's arguments to write the delta turning `oldTar` into `newTar` (the benchmark runs them too). */
export function computeArguments(
  oldTar: string,
  newTar: string,
  deltaFile: string,
  parameters: ZstdPatchParameters,
): string[] {
  return [
    `-${parameters.level}`,
    '-q',
    '-f',
    '--check',
    `--long=${parameters.windowLog}`,
    `--zstd=strategy=5,chainLog=${parameters.chainLog},hashLog=${parameters.hashLog}`,
    `--patch-from=${oldTar}`,
    newTar,
    '-o',
    deltaFile,
  ];
}

/** zstd's arguments to decode a delta against `oldTar` onto stdout. */
export function applyArguments(oldTar: string, deltaFile: string, windowLog: number): string[] {
  return [
    '-d',
    '-q',
    '-c',
    `--long=${windowLog}`,
    `--memory=${2 ** windowLog}`,
    `--patch-from=${oldTar}`,
    deltaFile,
  ];
}

/** Writes the delta turning `oldTar` into `newTar` to `deltaFile`. */
export async function computeZstdPatch(
  oldTar: string,
  newTar: string,
  deltaFile: string,
  parameters: ZstdPatchParameters,
  signal?: AbortSignal,
): Promise<void> {
  const run = runZstd(computeArguments(oldTar, newTar, deltaFile, parameters), signal);
  run.stdout.resume();
  await run.done;
}

/**
 * The new tar, streamed: zstd decodes `deltaFile` against `oldTar`. Its failure (a corrupt or
 * foreign delta, a wrong base) rejects `done` and ends the stream early; the caller's digest checks
 * catch whatever came out before.
 */
export function applyZstdPatch(
  oldTar: string,
  deltaFile: string,
  windowLog: number,
  signal?: AbortSignal,
): ZstdRun {
  return runZstd(applyArguments(oldTar, deltaFile, windowLog), signal);
}

/** `1.5.4`, recorded in the artifact (any zstd decodes any version's frames). */
export async function zstdVersion(): Promise<string> {
  const run = runZstd(['-V']);
  let out = '';
  run.stdout.setEncoding('utf8');
  run.stdout.on('data', (text: string) => {
    out += text;
  });
  await run.done;
  return /v(\d+\.\d+\.\d+)/.exec(out)?.[1] ?? out.trim();
}
