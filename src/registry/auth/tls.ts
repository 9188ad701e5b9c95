// TLS for registries and token realms: verified by default against the system roots; a CA file
// (images.yaml `registry.ca_file`) is trusted in addition, never instead. Also turns Node's
// certificate error codes into a sentence a user can act on.
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { ArborError } from '../../errors.js';
import { UNTRUSTED_CHAIN_CODES } from '../transport/connection-errors.js';
import { Agent } from '../transport/undici.js';

/** The `connect` options of an undici Agent/Pool that trusts `caFile` besides the system roots. */
export function tlsConnectOptions(caFile?: string): { ca?: string[] } {
  if (!caFile) return {};
  let pem: string;
  try {
    pem = readFileSync(caFile, 'utf8');
  } catch (e) {
    throw new ArborError(`ca_file ${caFile}: cannot read: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ArborError(`ca_file ${caFile}: no PEM certificate in it`);
  }
  // Setting `ca` replaces Node's default roots, so they are passed along explicitly.
  return { ca: [...rootCertificates, pem] };
}

export function createTlsAgent(caFile?: string): Agent {
  return new Agent({ connect: tlsConnectOptions(caFile) });
}

/**
 * A user-facing reason when `error` (or one of its causes) is a TLS verification failure, else
 * undefined. `where` names the server, e.g. `registry 127.0.0.1:5000`.
 */
export function describeTlsError(error: unknown, where: string): string | undefined {
  for (let e = error; e instanceof Error || isCoded(e); e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    if (UNTRUSTED_CHAIN_CODES.has(code)) {
      return `TLS: certificate of ${where} not trusted (${code}); give its CA with registry.ca_file, or mark the registry insecure to use plain HTTP`;
    }
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
      return `TLS: certificate of ${where} is not valid for this host name (${code})`;
    }
    if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
      return `TLS: certificate of ${where} is outside its validity period (${code})`;
    }
    if (code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER') {
      return `TLS: ${where} does not speak TLS here (${code}); if it serves plain HTTP, mark it insecure`;
    }
  }
  return undefined;
}

function isCoded(e: unknown): boolean {
  return typeof e === 'object' && e !== null && 'code' in e;
}
