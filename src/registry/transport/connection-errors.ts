// Network failures in words a user can act on. Codes come from Node (ECONNREFUSED, TLS
// verification) and undici (UND_ERR_*), sometimes on the error, sometimes on its cause.

export interface ConnectionProblem {
  reason: string;
  code: string;
  /** Trying again may help (a refused or lost connection); TLS and DNS mistakes will not heal. */
  transient: boolean;
}

/** Node's codes for a certificate chain that leads to no trusted root; token realms read them too. */
export const UNTRUSTED_CHAIN_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
]);

// Registry requests also count a failed signature check as untrusted (token realms do not, yet).
const UNTRUSTED = new Set([...UNTRUSTED_CHAIN_CODES, 'CERT_SIGNATURE_FAILURE']);

function codesOf(e: unknown): string[] {
  const codes: string[] = [];
  let current: unknown = e;
  for (let depth = 0; current && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
    current = (current as { cause?: unknown }).cause;
  }
  return codes;
}

/** Describes a failed request; `origin` is `host:port` of the server that was asked. */
export function describeConnectionError(e: unknown, origin: string): ConnectionProblem {
  const codes = codesOf(e);
  const message = e instanceof Error ? e.message : String(e);
  const has = (c: string) => codes.includes(c);
  const first = codes.find((c) => !c.startsWith('UND_ERR')) ?? codes[0] ?? 'ERROR';
  const untrusted = codes.find((c) => UNTRUSTED.has(c));
  if (untrusted)
    return { reason: 'TLS certificate not trusted (use ca_file)', code: untrusted, transient: false };
  if (has('CERT_HAS_EXPIRED'))
    return { reason: 'TLS certificate has expired', code: 'CERT_HAS_EXPIRED', transient: false };
  if (has('ERR_TLS_CERT_ALTNAME_INVALID'))
    return {
      reason: `TLS certificate is not valid for ${origin}`,
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
      transient: false,
    };
  if (has('EPROTO') || /wrong version number|ssl3_get_record|packet length too long/i.test(message))
    return {
      reason: 'TLS handshake failed (plain HTTP registry? use insecure: true or --insecure)',
      code: 'EPROTO',
      transient: false,
    };
  if (has('ECONNREFUSED'))
    return { reason: `registry unreachable (ECONNREFUSED ${origin})`, code: 'ECONNREFUSED', transient: true };
  if (has('ENOTFOUND') || has('EAI_AGAIN'))
    return { reason: `registry unreachable (host not found: ${origin})`, code: first, transient: false };
  if (has('UND_ERR_CONNECT_TIMEOUT') || has('ETIMEDOUT'))
    return { reason: `registry unreachable (connect timeout ${origin})`, code: first, transient: true };
  if (has('UND_ERR_HEADERS_TIMEOUT'))
    return { reason: 'registry did not answer in time', code: 'UND_ERR_HEADERS_TIMEOUT', transient: true };
  if (has('UND_ERR_BODY_TIMEOUT'))
    return { reason: 'registry stopped sending data', code: 'UND_ERR_BODY_TIMEOUT', transient: true };
  if (has('ECONNRESET') || has('UND_ERR_SOCKET') || has('EPIPE') || has('UND_ERR_CLOSED'))
    return { reason: `connection to ${origin} lost (${first})`, code: first, transient: true };
  if (has('EHOSTUNREACH') || has('ENETUNREACH'))
    return { reason: `registry unreachable (${first} ${origin})`, code: first, transient: true };
  return { reason: `request failed (${message})`, code: first, transient: false };
}
