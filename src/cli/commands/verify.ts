// arbor verify REFERENCE… | [-f images.yaml] [--tag T | --release R]: the digest each reference
// names, its GPG signatures (lookaside), its sigstore signature and its signed SBOM and provenance.
// One line per image; every problem is one located line on stderr, and the exit code is 1.
import type { Command } from 'commander';
import pLimit from 'p-limit';
import { ArborError, formatDiagnostic, error as problem } from '../../errors.js';
import { type ImageVerification, verifyImage } from '../../sign/verify.js';
import { action } from '../action.js';
import { err, out } from '../io.js';
import { debugSink, formatOption, tagValue } from '../options.js';
import {
  type KeyFlags,
  keyOptions,
  referenceTargets,
  releaseTargets,
  TargetClients,
  treeConfig,
  treeTargets,
  verifyPolicy,
} from '../sign-targets.js';

interface VerifyFlags extends KeyFlags {
  file?: string;
  tag?: string;
  release?: string;
  format: 'text' | 'json';
}

export function register(program: Command): void {
  const cmd = program
    .command('verify')
    .argument('[reference...]', 'images to verify (registry/repository:tag or @sha256:…)')
    .description('check signatures, digests and attestations of images or of a release of the tree');
  cmd
    .option('-f, --file <path>', 'the image tree (default images.yaml, when no reference is given)')
    .option(
      '--tag <tag>',
      'with the tree: its images at this tag (default: their fingerprint tags)',
      tagValue('--tag'),
    )
    .option(
      '--release <name>',
      'with the tree: the images of this release record, by digest',
      tagValue('--release'),
    );
  keyOptions(cmd);
  formatOption(cmd, ['text', 'json'], 'text');
  cmd.action(
    action<VerifyFlags>(async (references, flags) => {
      if (flags.tag !== undefined && flags.release !== undefined)
        throw new ArborError('--tag and --release are exclusive: name one');
      const config = await treeConfig(flags.file, references);
      const targets =
        config && references.length === 0
          ? flags.release !== undefined
            ? await releaseTargets(config, flags.release)
            : await treeTargets(config, flags.tag)
          : referenceTargets(references);
      if (targets.length === 0) {
        err('error: nothing to verify: give references, or run where images.yaml is (or -f FILE)');
        return 1;
      }
      const policy = await verifyPolicy(flags, config);
      if (!policy.gpg && !policy.sigstore) {
        err(
          'error: no key to verify with: give --gpg-key/--sigstore-key, or a tree whose images.yaml has signing:',
        );
        return 1;
      }
      const debug = debugSink(flags);
      const clients = new TargetClients(config, flags, debug);
      try {
        const limit = pLimit(16);
        const results = await Promise.all(
          targets.map((target) =>
            limit(() => verifyImage(clients.for(target.reference.registry), target, policy)),
          ),
        );
        if (flags.format === 'json') out(JSON.stringify(results.map(toJson), null, 2));
        else for (const r of results) if (r.problems.length === 0) out(okLine(r));
        const failed = results.filter((r) => r.problems.length > 0);
        for (const r of failed)
          for (const message of r.problems)
            err(
              formatDiagnostic(
                problem(`${reference(r)}: ${message}`, r.target.name ? { image: r.target.name } : {}),
              ),
            );
        if (flags.format === 'text')
          out(
            `Verify: ${results.length - failed.length} of ${results.length} image(s) verified${failed.length ? `, ${failed.length} failed` : ''}.`,
          );
        return failed.length > 0 ? 1 : 0;
      } finally {
        await clients.close();
      }
    }),
  );
}

function reference(r: ImageVerification): string {
  if (r.target.label !== undefined) return r.target.label;
  const ref = r.target.reference;
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest ? `@${ref.digest}` : ''}`;
}

function okLine(r: ImageVerification): string {
  const parts: string[] = [];
  if (r.gpgSignatures > 0) parts.push('gpg');
  for (const kind of ['signature', 'sbom', 'provenance'] as const) {
    const a = r.attachments.find((x) => x.kind === kind && !x.problem && x.signedBy !== 'unsigned');
    if (a) parts.push(kind === 'signature' ? 'sigstore' : `${kind} (${a.signedBy})`);
  }
  return `ok  ${reference(r)}  ${r.digest}  ${parts.join(', ')}`;
}

function toJson(r: ImageVerification) {
  return {
    ...(r.target.name ? { image: r.target.name } : {}),
    reference: reference(r),
    ...(r.digest ? { digest: r.digest } : {}),
    verified: r.problems.length === 0,
    gpgSignatures: r.gpgSignatures,
    attachments: r.attachments.map(({ kind, digest, signedBy, problem }) => ({
      kind,
      digest,
      signedBy,
      ...(problem ? { problem } : {}),
    })),
    problems: r.problems,
  };
}
