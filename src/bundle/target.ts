// `bundle push`'s destination: `REGISTRY[/NAMESPACE]`, e.g. `registry.site:5000/openstack`. Each
// image of the bundle goes to `NAMESPACE/<its name>`. Pure.
import { ArborError } from '../errors.js';
import { registryProblem, repositoryProblem } from '../registry/reference.js';

export interface PushTarget {
  registry: string;
  namespace: string;
}

export function parsePushTarget(input: string): PushTarget {
  const trimmed = input.replace(/\/+$/, '');
  const slash = trimmed.indexOf('/');
  const registry = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const namespace = slash < 0 ? '' : trimmed.slice(slash + 1);
  const problem = /^[a-z]+:\/\//i.test(input)
    ? 'registry is host[:port] without a scheme'
    : (registryProblem(registry) ?? (namespace !== '' ? repositoryProblem(namespace) : null));
  if (problem)
    throw new ArborError(
      `target "${input}": ${problem} (expected REGISTRY[/NAMESPACE], e.g. 127.0.0.1:5000/site)`,
    );
  return { registry, namespace };
}
