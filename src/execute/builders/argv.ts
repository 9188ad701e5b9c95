// Flag construction shared by every builder; sorted so the same request always gives the same
// command line (and the same log).
import { ArborError } from '../../errors.js';
import type { BuildRequest } from './types.js';

/** `--tag a --tag b` */
export function repeated(flag: string, values: readonly string[]): string[] {
  return values.flatMap((value) => [flag, value]);
}

/** `--build-arg K=V …` in key order. */
export function keyValues(flag: string, record: Record<string, string>): string[] {
  return Object.keys(record)
    .sort()
    .flatMap((key) => [flag, `${key}=${record[key]}`]);
}

/** `--network X`, or nothing for the tool's default. */
export function networkFlag(network: string): string[] {
  return network === 'default' || network === '' ? [] : ['--network', network];
}

/** Builders that make one image per build accept at most one platform; say which builder can do more. */
export function singlePlatformFlag(builder: string, req: BuildRequest): string[] {
  if (req.platforms.length > 1) {
    throw new ArborError([
      {
        message: `builder ${builder} builds one platform at a time, but platforms are ${req.platforms.join(', ')}; use the buildx builder for multi-platform images`,
        severity: 'error',
        image: req.image,
      },
    ]);
  }
  return req.platforms.length === 1 ? ['--platform', req.platforms[0]!] : [];
}

/** `--no-cache` when the request asks for a rebuild without the layer cache (every tool spells it so). */
export function noCacheFlag(req: BuildRequest): string[] {
  return req.noCache ? ['--no-cache'] : [];
}
