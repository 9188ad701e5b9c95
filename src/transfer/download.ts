// Downloads that survive a broken connection: when a blob's body stops before its size, the
// rest is asked for with `Range: bytes=N-` (distribution and every OCI registry serve ranges), as
// often as the client's retry budget allows, and the bytes are checked against the digest at the
// end (from byte 0 only: a stream opened at an offset cannot see the head it skipped).
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { RegistryClient } from '../registry/client.js';
import { describeRef } from '../registry/context.js';
import { isRestartable, RegistryError } from '../registry/errors.js';
import { isOutageError } from '../registry/transport/availability.js';
import { backoffDelay, sleep } from '../registry/transport/backoff.js';

/** Counts bytes read through resumable downloads (for reports: bytes on the wire). */
export interface DownloadStats {
  bytes: number;
  resumed: number;
}

export interface ResumableOptions {
  stats?: DownloadStats;
  /**
   * Send the GET now instead of at the first read: an upload opens its source before it opens
   * its session at the target, and the source's answer then overlaps the target's (one round
   * trip per copied blob instead of two). A stream closed before it was read drops the answer.
   */
  eager?: boolean;
  /** false: the caller checks the digest itself (with its own words); the bytes are not hashed here. */
  verify?: boolean;
}

export function resumableBlobStream(
  client: RegistryClient,
  repository: string,
  digest: string,
  size: number,
  offset = 0,
  options: ResumableOptions = {},
): Readable {
  const { stats } = options;
  const reference = describeRef(client.registry, repository, digest);
  const verify = options.verify !== false && offset === 0 && digest.startsWith('sha256:');
  const get = (at: number) => client.getBlob(repository, digest, at > 0 ? { offset: at } : {});
  let early = options.eager ? get(offset) : undefined;
  // Until the first read takes it, nothing listens: a rejection, or a body that breaks while it
  // waits (a cut connection, a body timeout while the target backs off), is that read's to
  // report and resume from, never an unhandled error.
  early?.then(
    ({ stream }) => stream.on('error', () => undefined),
    () => undefined,
  );
  const readable = Readable.from(
    (async function* () {
      const hash = verify ? createHash('sha256') : undefined;
      let at = offset;
      let failures = 0;
      while (at < size || (at === 0 && size === 0)) {
        let progressed = false;
        try {
          const answer = early ?? get(at);
          early = undefined;
          const { stream } = await answer;
          for await (const data of stream) {
            const chunk = data as Buffer;
            if (at + chunk.length > size)
              throw new RegistryError(reference, `blob is larger than ${size} bytes`);
            hash?.update(chunk);
            at += chunk.length;
            if (stats) stats.bytes += chunk.length;
            progressed = true;
            yield chunk;
          }
          if (at === size) break;
          throw new RegistryError(reference, `blob ended after ${at} of ${size} bytes`, {
            restartable: true,
          });
        } catch (e) {
          const transient = isRestartable(e) || isOutageError(e) || isCutBody(e);
          if (!transient) throw e;
          // Progress resets the count: a long download over a flaky link may break many times.
          failures = progressed ? 1 : failures + 1;
          if (failures > client.context.retries + 1)
            throw isCutBody(e)
              ? new RegistryError(
                  reference,
                  `the download broke off ${failures} times in a row (${(e as Error).message})`,
                  {
                    cause: e,
                  },
                )
              : e;
          if (stats) stats.resumed++;
          await sleep(backoffDelay(failures - 1, client.context.backoff));
        }
        if (size === 0) break;
      }
      if (hash) {
        const got = `sha256:${hash.digest('hex')}`;
        if (got !== digest)
          throw new RegistryError(reference, `downloaded bytes do not match the digest (got ${got})`, {
            code: DIGEST_MISMATCH,
          });
      }
    })(),
  );
  // Closed before its first read (the target refused the session): the early answer's body
  // would hold a connection to the source until collected.
  readable.once('close', () => {
    early?.then(
      ({ stream }) => stream.destroy(),
      () => undefined,
    );
    early = undefined;
  });
  return readable;
}

/** The code of the error a download whose bytes are not its digest's ends with (the registry's copy is damaged). */
export const DIGEST_MISMATCH = 'ARBOR_DIGEST_MISMATCH';

/** undici reports a body cut mid-read as a plain socket error, not a RegistryError. */
function isCutBody(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return (
    typeof code === 'string' &&
    ['UND_ERR_SOCKET', 'ECONNRESET', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_ABORTED', 'EPIPE'].includes(code)
  );
}
