// Authorization around every request: the header the Authenticator knows before sending, and on
// a 401 one more try with the header its challenge() returns (a refreshed token in the middle of
// a long push, or Basic credentials after the first anonymous request).
import type { Authenticator } from '../auth/types.js';
import { RegistryError } from '../errors.js';
import { header, isReplayable, type Layer, type RegistryRequest } from './types.js';

function withAuthorization(request: RegistryRequest, value: string | undefined): RegistryRequest {
  if (!value) return request;
  return { ...request, headers: { ...request.headers, authorization: value } };
}

export function authLayer(registry: string, authenticator: Authenticator | undefined): Layer {
  return (next) => async (request) => {
    if (request.anonymous) return next(request);
    const known = authenticator ? await authenticator.header(registry, request.scope) : undefined;
    const response = await next(withAuthorization(request, known));
    if (response.status !== 401) return response;
    await response.body.dump();
    const challenge = header(response, 'www-authenticate');
    if (!authenticator)
      throw new RegistryError(request.reference, 'unauthorized: no credentials', { status: 401 });
    const retryWith = challenge
      ? await authenticator.challenge(registry, request.scope, challenge, known ?? null)
      : undefined;
    if (!retryWith)
      throw new RegistryError(
        request.reference,
        known ? 'unauthorized: wrong credentials' : `unauthorized: no credentials for ${registry}`,
        { status: 401 },
      );
    if (!isReplayable(request))
      // The stream is spent; the token is fresh now, so the upload can start over.
      throw new RegistryError(request.reference, 'authorization expired during a streamed upload', {
        status: 401,
        restartable: true,
      });
    let sent = retryWith;
    for (let round = 0; ; round++) {
      const second = await next(withAuthorization(request, sent));
      if (second.status !== 401) return second;
      await second.body.dump();
      // A token handed out from the cache can expire before the request reaches the registry
      // (short-lived tokens, a request queued behind slow uploads): once, a fresh one is asked
      // for, the refused one dropped. Wrong credentials fail at the token server instead.
      const again = header(second, 'www-authenticate');
      const fresh =
        round === 0 && sent.startsWith('Bearer ') && again
          ? await authenticator.challenge(registry, request.scope, again, sent)
          : undefined;
      if (!fresh || fresh === sent)
        throw new RegistryError(request.reference, 'unauthorized: wrong credentials', { status: 401 });
      sent = fresh;
    }
  };
}
