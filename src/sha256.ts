// `sha256:<hex>` of some bytes: the digest format arbor writes everywhere, on the ground floor so
// any module (config, plan, retention, fingerprint) takes it without reaching into another's room.
import { hash } from 'node:crypto';

export function sha256(data: string | Uint8Array): string {
  // One-shot hash(): no Hash object per call, which matters for thousands of small inputs.
  return `sha256:${hash('sha256', data, 'hex')}`;
}
