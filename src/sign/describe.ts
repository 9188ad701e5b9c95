// What is attached to an image, for `arbor inspect` and `arbor explain`: each referrer's kind
// (arbor's signature, SBOM, provenance, or another artifact type), digest and creation time.
import type { RegistryClient } from '../registry/client.js';
import type { Descriptor } from '../registry/manifest-model.js';
import { CREATED_ANNOTATION, kindOf } from './attachments.js';

export interface AttachedSummary {
  kind: string;
  artifactType?: string;
  digest: string;
  created?: string;
}

export function summarizeReferrer(d: Descriptor): AttachedSummary {
  return {
    kind: kindOf(d) ?? 'artifact',
    ...(d.artifactType ? { artifactType: d.artifactType } : {}),
    digest: d.digest,
    ...(d.annotations?.[CREATED_ANNOTATION] ? { created: d.annotations[CREATED_ANNOTATION] } : {}),
  };
}

export async function attachedTo(
  client: RegistryClient,
  repository: string,
  digest: string,
): Promise<AttachedSummary[]> {
  return (await client.referrers(repository, digest)).manifests.map(summarizeReferrer);
}

export function attachedLines(attached: AttachedSummary[]): string[] {
  if (attached.length === 0) return ['Attached:   -'];
  return [
    'Attached:',
    ...attached.map((a) =>
      `  ${a.kind.padEnd(10)}  ${a.digest}  ${a.artifactType ?? ''}${a.created ? `  ${a.created}` : ''}`.trimEnd(),
    ),
  ];
}
