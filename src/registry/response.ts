// Reading registry answers: bounded bodies, and error bodies (`{"errors":[{code,message}]}`,
// the distribution spec's error format) turned into one-line RegistryErrors.
import { RegistryError } from './errors.js';
import { isRetryableStatus } from './transport/backoff.js';
import { header, type RegistryResponse } from './transport/types.js';

/** Reads a whole body, refusing one larger than `limit` bytes (a manifest or config, never a layer). */
export async function readBody(
  response: RegistryResponse,
  limit: number,
  reference: string,
): Promise<Buffer> {
  if (response.bytes) {
    if (response.bytes.length > limit)
      throw new RegistryError(reference, `response larger than ${limit} bytes`);
    return response.bytes;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      response.body.destroy();
      throw new RegistryError(reference, `response larger than ${limit} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

const STATUS_TEXT: Record<number, string> = {
  400: 'bad request',
  401: 'unauthorized',
  403: 'denied',
  404: 'not found',
  405: 'operation not supported',
  409: 'conflict',
  413: 'too large',
  416: 'range not satisfiable',
  429: 'too many requests',
  500: 'registry internal error',
  502: 'bad gateway',
  503: 'registry unavailable',
  504: 'gateway timeout',
};

/** The first distribution error of a body, if it has that shape. */
export function parseErrorBody(text: string): { code?: string; message?: string } | undefined {
  try {
    const json = JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    const first = Array.isArray(json.errors) ? json.errors[0] : undefined;
    if (!first) return undefined;
    return {
      ...(typeof first.code === 'string' ? { code: first.code } : {}),
      ...(typeof first.message === 'string' && first.message !== '' ? { message: first.message } : {}),
    };
  } catch {
    return undefined;
  }
}

/** Consumes the body of an unexpected answer and describes it. */
export async function unexpected(
  response: RegistryResponse,
  reference: string,
  fallback?: string,
): Promise<RegistryError> {
  let text = '';
  try {
    text = (await readBody(response, 64 * 1024, reference)).toString('utf8');
  } catch {
    // An oversized or broken error body says nothing more than the status already does.
  }
  const parsed = parseErrorBody(text);
  if (isStorageFull(response.status, text))
    // Retrying cannot help until someone frees space: say so instead of "internal error".
    return new RegistryError(reference, "the registry's storage is full (no space left on device)", {
      status: response.status,
      code: 'STORAGE_FULL',
    });
  let reason = parsed?.message ?? fallback ?? STATUS_TEXT[response.status] ?? 'unexpected answer';
  if (response.status === 429) {
    const remaining = header(response, 'ratelimit-remaining');
    if (remaining !== undefined) reason += ` (rate limit remaining ${remaining.split(';')[0]})`;
  }
  return new RegistryError(reference, reason, {
    status: response.status,
    ...(parsed?.code ? { code: parsed.code } : {}),
    restartable: isRetryableStatus(response.status),
  });
}

/**
 * A registry whose disk is full answers 500 (distribution: `UNKNOWN` with the write error in the
 * detail) or 507; the words of the operating system's error are what identify it.
 */
export function isStorageFull(status: number, body: string): boolean {
  if (status === 507) return true;
  return (
    status >= 500 && /no space left on device|ENOSPC|disk quota exceeded|insufficient storage/i.test(body)
  );
}

export async function expectStatus(
  response: RegistryResponse,
  reference: string,
  ...statuses: number[]
): Promise<void> {
  if (!statuses.includes(response.status)) throw await unexpected(response, reference);
}
