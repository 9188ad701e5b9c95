// Shared by `arbor verify` and `arbor diff`: which images (references on the command line, or
// the tree's images at a tag or release), which keys (flags, else images.yaml's `signing:`), and
// one registry client per registry.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Config } from '../config/model.js';
import { ArborError } from '../errors.js';
import { RegistryClients } from '../plan/clients.js';
import { computeDesired, loadTree } from '../plan/desired.js';
import type { RegistryClient } from '../registry/client.js';
import { type OpenRegistry, openRegistry } from '../registry/open.js';
import { parseReference } from '../registry/reference.js';
import { treeRelease } from '../release/of-tree.js';
import { configuredPublicKeys } from '../sign/keys.js';
import { lookasideBase } from '../sign/lookaside.js';
import { readKeyring } from '../sign/openpgp-verify.js';
import { loadPublicKey } from '../sign/sigstore.js';
import { treeImagesAtTag } from '../sign/targets.js';
import type { ImageTarget, VerifyPolicy } from '../sign/verify.js';

/** The flags of the commands that verify (verify, diff): keys, lookaside, registries on the command line. */
export function keyOptions(cmd: Command): Command {
  return cmd
    .option('--gpg-key <file>', 'trusted OpenPGP public key(s), armored or binary (default: signing.gpg.key)')
    .option('--lookaside <dir|url>', 'where GPG signatures are (default: signing.gpg.lookaside)')
    .option('--sigstore-key <file>', 'PEM public key of sigstore bundles (default: signing.sigstore)')
    .option('--insecure', 'plain HTTP for registries given on the command line')
    .option('--ca-file <file>', 'trust this PEM CA for registries given on the command line');
}

export interface KeyFlags {
  gpgKey?: string;
  lookaside?: string;
  sigstoreKey?: string;
  insecure?: boolean;
  caFile?: string;
  debug?: boolean;
}

/** The tree, when the command reads one: `-f` given, or images.yaml present and no references. */
export async function treeConfig(file: string | undefined, references: string[]): Promise<Config | null> {
  if (file === undefined && (references.length > 0 || !existsSync('images.yaml'))) return null;
  return (await loadTree(file ?? 'images.yaml')).config;
}

/** The tree's images at a tag, or at their fingerprint tags (computing the fingerprints). */
export async function treeTargets(config: Config, tag: string | undefined): Promise<ImageTarget[]> {
  if (tag !== undefined) return treeImagesAtTag(config, tag);
  const clients = new RegistryClients(config);
  try {
    const tree = await loadTree(config.file);
    const desired = await computeDesired({
      tree,
      resolveBase: (ref) => clients.resolveBase(ref),
      skipTags: true,
    });
    return [...desired.images.values()].map((image) => ({
      name: image.name,
      reference: parseReference(`${image.repository}:${image.fingerprintTag}`),
    }));
  } finally {
    await clients.close();
  }
}

/** The images of a release record of the tree, each pinned by digest (shown by the release's tag). */
export async function releaseTargets(config: Config, release: string): Promise<ImageTarget[]> {
  const clients = new RegistryClients(config);
  try {
    const record = await treeRelease(clients.home, config, release);
    return record.images.map((image) => {
      const tag = image.tags.includes(record.release) ? record.release : image.tags[0];
      return {
        name: image.name,
        reference: parseReference(`${record.registry}/${image.repository}@${image.digest}`),
        ...(tag !== undefined ? { label: `${record.registry}/${image.repository}:${tag}` } : {}),
      };
    });
  } finally {
    await clients.close();
  }
}

export function referenceTargets(references: string[]): ImageTarget[] {
  return references.map((input) => ({ reference: parseReference(input) }));
}

/** Keys from the flags, else from images.yaml; attestations required when images.yaml asks for them. */
export async function verifyPolicy(flags: KeyFlags, config: Config | null): Promise<VerifyPolicy> {
  const configured = config ? await configuredPublicKeys(config) : {};
  const policy: VerifyPolicy = { require: [] };
  if (flags.gpgKey) {
    const lookaside = flags.lookaside ?? configured.gpg?.lookaside;
    if (!lookaside) throw new ArborError('--gpg-key needs --lookaside DIR|URL (where the signatures are)');
    policy.gpg = {
      keyring: await readKeyring(await readFileOrFail(flags.gpgKey)).catch((e: unknown) => {
        throw new ArborError(
          `--gpg-key ${flags.gpgKey}: not an OpenPGP public key (${(e as Error).message})`,
        );
      }),
      lookaside: lookasideBase(lookaside),
    };
  } else if (configured.gpg) {
    policy.gpg = {
      keyring: configured.gpg.keyring,
      lookaside: lookasideBase(flags.lookaside ?? configured.gpg.lookaside),
    };
  }
  if (flags.sigstoreKey) policy.sigstore = await loadPublicKeyOrFail(flags.sigstoreKey);
  else if (configured.sigstore) policy.sigstore = configured.sigstore;
  if (config?.signing?.sbom) policy.require.push('sbom');
  if (config?.signing?.provenance) policy.require.push('provenance');
  return policy;
}

async function readFileOrFail(file: string): Promise<Buffer> {
  try {
    return await readFile(resolve(file));
  } catch (e) {
    throw new ArborError(`cannot read ${file} (${(e as NodeJS.ErrnoException).code})`);
  }
}

async function loadPublicKeyOrFail(file: string) {
  try {
    return await loadPublicKey(resolve(file));
  } catch (e) {
    throw new ArborError(`--sigstore-key: ${(e as Error).message}`);
  }
}

/** One client per registry: the tree's (with its settings) or opened from the flags. */
export class TargetClients {
  private readonly opened = new Map<string, OpenRegistry>();
  private readonly tree: RegistryClients | null;

  constructor(
    private readonly config: Config | null,
    private readonly flags: KeyFlags,
    private readonly debug?: (line: string) => void,
  ) {
    this.tree = config ? new RegistryClients(config, debug ? { debug } : {}) : null;
  }

  for(registry: string): RegistryClient {
    if (this.tree && registry === this.config!.registry.url) return this.tree.home;
    let open = this.opened.get(registry);
    if (!open) {
      open = openRegistry({
        registry,
        ...(this.flags.insecure ? { insecure: true } : {}),
        ...(this.flags.caFile ? { caFile: this.flags.caFile } : {}),
        ...(this.debug ? { debug: this.debug } : {}),
      });
      this.opened.set(registry, open);
    }
    return open.client;
  }

  async close(): Promise<void> {
    await Promise.all([this.tree?.close(), ...[...this.opened.values()].map((o) => o.close())]);
  }
}
