// One place that says where an image of the tree lives: `registry/namespace/name`.
import type { Config } from './model.js';

/** Path inside the registry: `namespace/name`, or `name` without a namespace. */
export function repositoryPath(config: Pick<Config, 'registry'>, imageName: string): string {
  return config.registry.namespace ? `${config.registry.namespace}/${imageName}` : imageName;
}

/** Full repository: `127.0.0.1:5000/openstack/keystone`. */
export function repositoryOf(config: Pick<Config, 'registry'>, imageName: string): string {
  return `${config.registry.url}/${repositoryPath(config, imageName)}`;
}

/** The fingerprint tag: `fp-` (configurable) and the first 24 hex digits of the fingerprint. */
export function fingerprintTag(config: Pick<Config, 'fingerprint'>, fingerprint: string): string {
  const hex = fingerprint.startsWith('sha256:') ? fingerprint.slice(7) : fingerprint;
  return `${config.fingerprint.tagPrefix}${hex.slice(0, 24)}`;
}
