// Docker's client configuration, read the way the docker CLI reads it:
// `$DOCKER_CONFIG/config.json` (default ~/.docker/config.json) with `auths` (base64 `auth`
// "user:password", or username/password, or `identitytoken`), `credsStore` (one helper for every
// registry) and `credHelpers` (a helper per registry, winning over credsStore). Every secret is
// registered for redaction the moment it is read.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ArborError } from '../../errors.js';
import { registerSecret } from '../../secrets.js';
import { runCredentialHelper } from './credential-helper.js';
import type { Credentials } from './types.js';

/** The key Docker Hub's credentials are stored under. */
export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const DOCKER_HUB_HOSTS = new Set([
  'docker.io',
  'index.docker.io',
  'registry-1.docker.io',
  'registry.hub.docker.com',
]);

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

export interface DockerConfig {
  /** Where it was read from (or would have been): named in error messages. */
  path: string;
  /** Keyed by registryHost() of the original key. */
  auths: Map<string, AuthEntry>;
  credsStore?: string;
  credHelpers: Map<string, string>;
}

export interface FoundCredentials {
  credentials: Credentials;
  /** Where they came from, for messages: a file path or a helper program. */
  source: string;
}

export function defaultDockerConfigDir(): string {
  return process.env.DOCKER_CONFIG || join(homedir(), '.docker');
}

/**
 * `host[:port]` of a config key or registry name: keys appear with or without scheme and path
 * (`https://index.docker.io/v1/`, `http://127.0.0.1:5000`, `ghcr.io`); Docker Hub's aliases are one.
 */
export function registryHost(server: string): string {
  const host = server
    .trim()
    .toLowerCase()
    .replace(/^[a-z][a-z0-9+.-]*:\/\//, '')
    .replace(/\/.*$/, '');
  return DOCKER_HUB_HOSTS.has(host) ? 'docker.io' : host;
}

/** Reads config.json; a missing file is an empty config, a malformed one an error naming the file. */
export async function readDockerConfig(dir: string = defaultDockerConfigDir()): Promise<DockerConfig> {
  const path = join(dir, 'config.json');
  const config: DockerConfig = { path, auths: new Map(), credHelpers: new Map() };
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return config;
    throw new ArborError(`${path}: cannot read docker config: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ArborError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(raw)) throw new ArborError(`${path}: expected a JSON object`);

  if (raw.auths !== undefined) {
    if (!isObject(raw.auths)) throw new ArborError(`${path}: "auths" must be an object`);
    for (const [key, value] of Object.entries(raw.auths)) {
      config.auths.set(registryHost(key), readAuthEntry(path, key, value));
    }
  }
  if (raw.credsStore !== undefined && raw.credsStore !== '') {
    if (typeof raw.credsStore !== 'string') throw new ArborError(`${path}: "credsStore" must be a string`);
    config.credsStore = raw.credsStore;
  }
  if (raw.credHelpers !== undefined) {
    if (!isObject(raw.credHelpers)) throw new ArborError(`${path}: "credHelpers" must be an object`);
    for (const [key, helper] of Object.entries(raw.credHelpers)) {
      if (typeof helper !== 'string') throw new ArborError(`${path}: credHelpers["${key}"] must be a string`);
      config.credHelpers.set(registryHost(key), helper);
    }
  }
  return config;
}

function readAuthEntry(path: string, key: string, value: unknown): AuthEntry {
  if (!isObject(value)) throw new ArborError(`${path}: auths["${key}"] must be an object`);
  const entry: AuthEntry = {};
  for (const field of ['auth', 'username', 'password', 'identitytoken'] as const) {
    const v = value[field];
    if (v === undefined || v === null || v === '') continue;
    if (typeof v !== 'string') throw new ArborError(`${path}: auths["${key}"].${field} must be a string`);
    if (field !== 'username') registerSecret(v);
    entry[field] = v;
  }
  return entry;
}

/**
 * Credentials for `registry` (host[:port]): its credHelper, else credsStore, else `auths`
 * (as docker does; a helper with nothing stored falls through to `auths`). Undefined when none.
 */
export async function findCredentials(
  config: DockerConfig,
  registry: string,
): Promise<FoundCredentials | undefined> {
  const host = registryHost(registry);
  const helper = config.credHelpers.get(host) ?? config.credsStore;
  if (helper !== undefined) {
    const serverUrl = host === 'docker.io' ? DOCKER_HUB_KEY : registry;
    const credentials = await runCredentialHelper(helper, serverUrl, registry);
    if (credentials) return { credentials, source: `credential helper docker-credential-${helper}` };
  }
  const entry = config.auths.get(host);
  if (!entry) return undefined;
  const credentials = entryCredentials(config.path, host, entry);
  return credentials ? { credentials, source: config.path } : undefined;
}

function entryCredentials(path: string, host: string, entry: AuthEntry): Credentials | undefined {
  const credentials: Credentials = {};
  if (entry.auth !== undefined) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0)
      throw new ArborError(`${path}: auths entry for ${host}: "auth" is not base64 of user:password`);
    credentials.username = decoded.slice(0, colon);
    credentials.password = decoded.slice(colon + 1);
    registerSecret(credentials.password);
  } else if (entry.username !== undefined || entry.password !== undefined) {
    credentials.username = entry.username ?? '';
    credentials.password = entry.password ?? '';
  }
  if (entry.identitytoken !== undefined) credentials.identityToken = entry.identitytoken;
  return Object.keys(credentials).length > 0 ? credentials : undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
