// Image references, parsed and checked with the grammar of distribution/reference
// (the one Docker, containerd and the CNCF registry share), so arbor rejects exactly what
// registries would reject, before any request is made.

const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|${IPV6})(?::[0-9]+)?`;

export const TAG_PATTERN = /^[\w][\w.-]{0,127}$/;
export const PATH_PATTERN = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
export const DOMAIN_PATTERN = new RegExp(`^${DOMAIN}$`);
const DIGEST_PATTERN = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const SHA256_PATTERN = /^sha256:[0-9a-f]{64}$/;
const SHA512_PATTERN = /^sha512:[0-9a-f]{128}$/;

export const DOCKER_HUB = 'docker.io';
/** Where Docker Hub's registry API actually answers. */
export const DOCKER_HUB_API = 'registry-1.docker.io';

export interface Reference {
  /** `host[:port]`; `docker.io` for Docker Hub. */
  registry: string;
  /** Path inside the registry, e.g. `openstack/keystone` (`library/busybox` on Docker Hub). */
  repository: string;
  tag?: string;
  digest?: string;
}

export class InvalidReferenceError extends Error {
  constructor(
    readonly reference: string,
    reason: string,
  ) {
    super(`invalid reference "${reference}": ${reason}`);
    this.name = 'InvalidReferenceError';
  }
}

export function isValidTag(tag: string): boolean {
  return TAG_PATTERN.test(tag);
}

/** Why a tag is invalid, or null when it is valid. */
export function tagProblem(tag: string): string | null {
  if (tag === '') return 'tag is empty';
  if (tag.length > 128) return `tag is ${tag.length} characters long (at most 128)`;
  if (!TAG_PATTERN.test(tag))
    return 'a tag may contain only letters, digits, "_", "." and "-", and may not start with "." or "-"';
  return null;
}

export function digestProblem(digest: string): string | null {
  if (!DIGEST_PATTERN.test(digest)) return 'digest must look like sha256:<64 hex digits>';
  if (digest.startsWith('sha256:') && !SHA256_PATTERN.test(digest))
    return 'a sha256 digest has exactly 64 lowercase hex digits';
  if (digest.startsWith('sha512:') && !SHA512_PATTERN.test(digest))
    return 'a sha512 digest has exactly 128 lowercase hex digits';
  return null;
}

export function repositoryProblem(path: string): string | null {
  if (path === '') return 'repository name is empty';
  if (path.length > 255) return 'repository name is longer than 255 characters';
  if (path !== path.toLowerCase()) return 'repository name must be lowercase';
  if (!PATH_PATTERN.test(path))
    return 'repository path components are lowercase letters and digits separated by ".", "_", "__" or "-"';
  return null;
}

export function registryProblem(host: string): string | null {
  if (host === '') return 'registry host is empty';
  if (/^[a-z]+:\/\//i.test(host)) return 'registry is host[:port] without a scheme';
  if (host.includes('@'))
    return 'registry must be host[:port]; credentials belong in the docker config (docker login), not in the name';
  if (!DOMAIN_PATTERN.test(host)) return 'registry must be host[:port]';
  const port = /:(\d+)$/.exec(host)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535))
    return `port ${port} is not in 1-65535`;
  return null;
}

function looksLikeRegistry(component: string): boolean {
  return (
    component.includes('.') ||
    component.includes(':') ||
    component === 'localhost' ||
    component.startsWith('[')
  );
}

/**
 * Parses `[registry/]repository[:tag][@digest]`. A reference without a registry is on Docker
 * Hub, as `docker pull` reads it. Throws InvalidReferenceError naming the reference and the reason.
 */
export function parseReference(input: string): Reference {
  if (input.trim() === '') throw new InvalidReferenceError(input, 'reference is empty');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    const problem = digestProblem(digest);
    if (problem) throw new InvalidReferenceError(input, problem);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    const problem = tagProblem(tag);
    if (problem) throw new InvalidReferenceError(input, problem);
  }
  let registry = DOCKER_HUB;
  let repository = rest;
  const firstSlash = rest.indexOf('/');
  if (firstSlash >= 0 && looksLikeRegistry(rest.slice(0, firstSlash))) {
    registry = rest.slice(0, firstSlash);
    repository = rest.slice(firstSlash + 1);
    const problem = registryProblem(registry);
    if (problem) throw new InvalidReferenceError(input, problem);
  }
  if (registry === DOCKER_HUB && repository !== '' && !repository.includes('/'))
    repository = `library/${repository}`;
  const problem = repositoryProblem(repository);
  if (problem) throw new InvalidReferenceError(input, problem);
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** `registry/repository[:tag][@digest]` */
export function formatReference(ref: Reference): string {
  let s = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest) s += `@${ref.digest}`;
  return s;
}

/** Parses `registry/repository` (no tag, no digest), e.g. the argument of `arbor ls`. */
export function parseRepository(input: string): { registry: string; repository: string } {
  const ref = parseReference(input);
  if (ref.tag !== undefined || ref.digest)
    throw new InvalidReferenceError(input, 'expected a repository without tag or digest');
  return { registry: ref.registry, repository: ref.repository };
}
