// Which failed classic builds are the engine's cache-lookup race (built again) and which are real.
import { describe, expect, it } from 'vitest';
import {
  CACHE_PROBE_ATTEMPTS,
  cacheProbeBackoffMs,
  lostCacheProbeRace,
} from '../../../src/execute/builders/docker.js';
import { BuildError } from '../../../src/execute/builders/errors.js';

const ID = `sha256:${'ab'.repeat(32)}`;

function failed(logTail: string[], aborted = false): BuildError {
  return new BuildError({
    step: 'build',
    subject: 'base',
    exitCode: aborted ? null : 1,
    summary: 'docker build exited with code 1',
    logFile: '/tmp/base.log',
    logTail,
    aborted,
  });
}

describe('lostCacheProbeRace', () => {
  it('is the engine message ending the log: the image id the lookup listed and could not read', () => {
    expect(
      lostCacheProbeRace(failed(['Step 2/3 : COPY run-id /r', `unable to find image "${ID}"`, ''])),
    ).toBe(true);
  });

  it('is not a failure of the Dockerfile, nor one that only mentions the message earlier', () => {
    expect(
      lostCacheProbeRace(
        failed(['Step 3/4 : RUN false', "The command '/bin/sh -c false' returned a non-zero code: 1"]),
      ),
    ).toBe(false);
    expect(
      lostCacheProbeRace(
        failed([`RUN echo 'unable to find image "${ID}"'`, `unable to find image "${ID}"`, 'exit 7']),
      ),
    ).toBe(false);
    // A base image missing by name is a real error (a typo, a registry that lacks it).
    expect(lostCacheProbeRace(failed(['unable to find image "base:2025.1"']))).toBe(false);
  });

  it('is never a cancelled build, nor another kind of error', () => {
    expect(lostCacheProbeRace(failed([`unable to find image "${ID}"`], true))).toBe(false);
    expect(lostCacheProbeRace(new Error(`unable to find image "${ID}"`))).toBe(false);
  });
});

describe('cacheProbeBackoffMs', () => {
  it('waits longer after each lost lookup, a quarter second first and never more than 4 s', () => {
    const pauses = Array.from({ length: CACHE_PROBE_ATTEMPTS - 1 }, (_, i) => cacheProbeBackoffMs(i + 1));
    expect(pauses).toEqual([250, 500, 1000, 2000, 4000, 4000, 4000]);
  });
});
