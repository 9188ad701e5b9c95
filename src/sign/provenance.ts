// The provenance arbor attaches to an image it published: an in-toto statement with a SLSA v1
// provenance predicate saying what the image was built from (images.yaml and its digest, the git
// commit, the fingerprint and every one of its inputs, the parent's digest), by what (arbor and
// the builder, with versions) and when. Pure: the caller gathers the facts.
import type { FingerprintInput } from '../fingerprint/model.js';
import { digestSet, type ResourceDescriptor, type Statement, statement } from './dsse.js';

export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
export const ARBOR_BUILD_TYPE = 'https://arbor.invalid/image-build/v1';

export interface ProvenanceFacts {
  /** `host/namespace/name` */
  repository: string;
  digest: string;
  image: string;
  tags: string[];
  fingerprint: string;
  inputs: FingerprintInput[];
  configFile: string;
  configDigest: string;
  git: { commit?: string; branch?: string; source?: string };
  /** The parent in the tree, or the external base (`from`), with its manifest digest. */
  parent?: { reference: string; digest?: string };
  contentFingerprint?: string;
  builder: { name: string; version?: string };
  arborVersion: string;
  startedOn?: string;
  finishedOn: string;
}

export function provenanceStatement(facts: ProvenanceFacts): Statement {
  const dependencies: ResourceDescriptor[] = [];
  if (facts.git.commit)
    dependencies.push({
      name: 'source',
      ...(facts.git.source ? { uri: `git+${facts.git.source}@${facts.git.commit}` } : {}),
      digest: { gitCommit: facts.git.commit },
    });
  if (facts.parent)
    dependencies.push({
      name: 'parent',
      uri: facts.parent.reference,
      digest: facts.parent.digest ? digestSet(facts.parent.digest) : {},
    });
  dependencies.push({ name: 'images.yaml', uri: facts.configFile, digest: digestSet(facts.configDigest) });
  for (const input of facts.inputs)
    dependencies.push({ name: `input:${input.kind}:${input.name}`, digest: digestSet(input.hash) });
  return statement([{ name: facts.repository, digest: digestSet(facts.digest) }], SLSA_PROVENANCE_V1, {
    buildDefinition: {
      buildType: ARBOR_BUILD_TYPE,
      externalParameters: {
        configFile: facts.configFile,
        configDigest: facts.configDigest,
        image: facts.image,
        tags: facts.tags,
        ...(facts.git.branch ? { branch: facts.git.branch } : {}),
      },
      internalParameters: {
        fingerprint: facts.fingerprint,
        ...(facts.contentFingerprint ? { contentFingerprint: facts.contentFingerprint } : {}),
      },
      resolvedDependencies: dependencies,
    },
    runDetails: {
      builder: {
        id: `${ARBOR_BUILD_TYPE}#${facts.builder.name}`,
        version: {
          arbor: facts.arborVersion,
          [facts.builder.name]: facts.builder.version ?? 'unknown',
        },
      },
      metadata: {
        ...(facts.startedOn ? { startedOn: facts.startedOn } : {}),
        finishedOn: facts.finishedOn,
      },
    },
  });
}
