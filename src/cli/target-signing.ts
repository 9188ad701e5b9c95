// Signing what promote, sync and bundle push published, for the registry it went to: GPG simple
// signatures name a reference (`registry/repository:tag`), so the tree's own signatures do not
// cover the copies. The key is opened (and tried) before anything moves, like apply's; nothing is
// loaded when no target signs.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { Config, PromoteTarget } from '../config/model.js';
import { displayPath } from '../display-path.js';
import { ArborError } from '../errors.js';
import type { GpgSigningKey } from '../sign/gpg-signatures.js';
import type { TaggedImage } from '../sign/sign-tags.js';

/** The signer of each promote target with `sign:`, by target name. */
export async function openPromoteSigners(
  config: Config,
  targets: PromoteTarget[],
): Promise<Map<string, GpgSigningKey>> {
  const signers = new Map<string, GpgSigningKey>();
  const signing = targets.filter((t) => t.sign);
  if (signing.length === 0 || !config.signing?.gpg) return signers;
  const [{ openConfiguredGpgKey }, { mkdir }] = await Promise.all([
    import('../sign/keys.js'),
    import('node:fs/promises'),
  ]);
  const opened = await openConfiguredGpgKey(config);
  for (const target of signing) {
    await mkdir(target.sign!.lookaside, { recursive: true });
    signers.set(target.name, { ...opened, lookaside: target.sign!.lookaside });
  }
  return signers;
}

export interface SignByFlags {
  signBy?: string;
  signLookaside?: string;
  signPassphraseFile?: string;
}

/** skopeo's names: the site signs what it received with its own key, for its own references. */
export function signByOptions(cmd: Command): void {
  cmd
    .option(
      '--sign-by <fingerprint>',
      'sign every tag written, for this registry, with this GPG key (GNUPGHOME)',
    )
    .option(
      '--sign-lookaside <dir>',
      'with --sign-by: where the signatures go (registries.d lookaside layout)',
    )
    .option('--sign-passphrase-file <file>', "with --sign-by: the key's passphrase (first line)");
}

/** The key named on the command line (`--sign-by`), writing into `--sign-lookaside`. */
export async function openFlagSigner(flags: SignByFlags): Promise<GpgSigningKey | undefined> {
  if (flags.signBy === undefined && flags.signLookaside === undefined) return undefined;
  if (flags.signBy === undefined || flags.signLookaside === undefined)
    throw new ArborError('--sign-by and --sign-lookaside go together: the key, and where its signatures go');
  const [{ openGpgSigningKey }, { readPassphrase }] = await Promise.all([
    import('../sign/keys.js'),
    import('../sign/passphrase.js'),
  ]);
  try {
    const passphrase =
      flags.signPassphraseFile !== undefined
        ? await readPassphrase({ passphraseFile: flags.signPassphraseFile }, process.cwd(), process.env)
        : undefined;
    return await openGpgSigningKey(flags.signBy, resolve(flags.signLookaside), {
      env: process.env,
      ...(passphrase !== undefined ? { passphrase } : {}),
    });
  } catch (e) {
    throw new ArborError(`--sign-by ${flags.signBy}: ${(e as Error).message}`);
  }
}

/** A promote or sync plan's image as the target holds it: its repository there and its tags. */
export function taggedAtTarget(image: {
  targetRepository: string;
  digest: string;
  tags: string[];
}): TaggedImage {
  return { repository: image.targetRepository, digest: image.digest, tags: image.tags };
}

/** Signs every tag of `images` at `registry` not yet signed; returns the line saying how many, where. */
export async function signAtTarget(
  signer: GpgSigningKey,
  registry: string,
  images: TaggedImage[],
): Promise<string> {
  const { signTags } = await import('../sign/sign-tags.js');
  const written = await signTags(signer, registry, images);
  return `${written} GPG signature(s) written to ${displayPath(signer.lookaside)}.`;
}
