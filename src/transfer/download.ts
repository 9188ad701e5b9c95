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

export function resumableBlobStream(
  client: RegistryClient,
  repository: string,
  digest: string,
  size: number,
  offset = 0,
  stats?: DownloadStats,
): Readable {
  const reference = describeRef(client.registry, repository, digest);
  const verify = offset === 0 && digest.startsWith('sha256:');
  return Readable.from(
    (async function* () {
      const hash = verify ? createHash('sha256') : undefined;
      let at = offset;
      let failures = 0;
      while (at < size || (at === 0 && size === 0)) {
        let progressed = false;
        try {
          const { stream } = await client.getBlob(repository, digest, at > 0 ? { offset: at } : {});
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
          if (failures > client.context.retries + 1) throw e;
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
