// skopeo configured as a site that requires GPG signatures: a policy.json with a `signedBy`
// (GPGKeys) requirement for one registry and a registries.d `lookaside:` for it. `skopeo copy`
// from that registry succeeds only when skopeo accepts the signatures: the oracle of GPG signing.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SkopeoSite {
  registry: string;
  /** OpenPGP public key file trusted by the policy. */
  keyFile: string;
  /** Where signatures are read (and, when skopeo signs, written). */
  lookaside: string;
  /** Scratch directory for the policy and copies. */
  work: string;
}

/**
 * `skopeo copy docker://ref …` under the site's policy. With `--sign-by` among `extra`, skopeo
 * signs instead: the source then needs no signature and the copy goes to `signTo`.
 */
export function skopeoCopy(
  site: SkopeoSite,
  ref: string,
  options: { extra?: string[]; env?: NodeJS.ProcessEnv; signTo?: string } = {},
) {
  const dir = mkdtempSync(join(site.work, 'skopeo-'));
  const signing = options.signTo !== undefined;
  writeFileSync(
    join(dir, 'policy.json'),
    JSON.stringify({
      default: [{ type: 'reject' }],
      transports: {
        docker: {
          [site.registry]: signing
            ? [{ type: 'insecureAcceptAnything' }]
            : [{ type: 'signedBy', keyType: 'GPGKeys', keyPath: site.keyFile }],
        },
        dir: { '': [{ type: 'insecureAcceptAnything' }] },
      },
    }),
  );
  mkdirSync(join(dir, 'registries.d'));
  writeFileSync(
    join(dir, 'registries.d', 'site.yaml'),
    `docker:\n  ${site.registry}:\n    lookaside: file://${site.lookaside}\n    lookaside-staging: file://${site.lookaside}\n`,
  );
  const r = spawnSync(
    'skopeo',
    [
      '--policy',
      join(dir, 'policy.json'),
      '--registries.d',
      join(dir, 'registries.d'),
      'copy',
      '--src-tls-verify=false',
      '--dest-tls-verify=false',
      ...(options.extra ?? []),
      `docker://${ref}`,
      signing ? `docker://${options.signTo}` : `dir:${join(dir, 'out')}`,
    ],
    { encoding: 'utf8', env: options.env ?? process.env },
  );
  return { status: r.status, stderr: r.stderr };
}
