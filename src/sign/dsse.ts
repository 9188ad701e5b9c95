// DSSE envelopes and in-toto statements: what sigstore bundles (and cosign's attestations) sign.
// The signature covers the pre-authentication encoding of the payload type and payload, never the
// JSON around them, so the envelope's serialization does not matter.
import { createHash } from 'node:crypto';

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';

export interface Envelope {
  payload: string;
  payloadType: string;
  signatures: Array<{ sig: string; keyid: string }>;
}

/** DSSE v1 PAE: "DSSEv1" SP len(type) SP type SP len(body) SP body. */
export function preAuthEncoding(payloadType: string, payload: Buffer): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${type.length} `),
    type,
    Buffer.from(` ${payload.length} `),
    payload,
  ]);
}

export interface ResourceDescriptor {
  name?: string;
  uri?: string;
  digest: Record<string, string>;
  annotations?: Record<string, unknown>;
}

export interface Statement<P = unknown> {
  _type: typeof IN_TOTO_STATEMENT_V1;
  subject: ResourceDescriptor[];
  predicateType: string;
  predicate: P;
}

export function statement<P>(
  subject: ResourceDescriptor[],
  predicateType: string,
  predicate: P,
): Statement<P> {
  return { _type: IN_TOTO_STATEMENT_V1, subject, predicateType, predicate };
}

/** `sha256:<hex>` → `{ sha256: <hex> }`, the in-toto digest set. */
export function digestSet(digest: string): Record<string, string> {
  const [algorithm, hex] = digest.split(':');
  return { [algorithm!]: hex! };
}

export function sha256Hex(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Reads a statement out of an envelope's payload, checking its shape. */
export function statementOf(envelope: Envelope): Statement {
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE)
    throw new Error(`payload type is ${envelope.payloadType}, not ${IN_TOTO_PAYLOAD_TYPE}`);
  const json = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as Statement;
  if (!Array.isArray(json.subject) || typeof json.predicateType !== 'string')
    throw new Error('payload is not an in-toto statement');
  return json;
}

/** True when one of the statement's subjects is the manifest `digest`. */
export function coversDigest(s: Statement, digest: string): boolean {
  const [algorithm, hex] = digest.split(':');
  return s.subject.some((subject) => subject.digest?.[algorithm!] === hex);
}
