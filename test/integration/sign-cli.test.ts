// Signing as users run it: `arbor apply` with `signing:` (GPG + sigstore, keys behind
// passphrases) builds and signs the default tree; skopeo (the site's policy) accepts every tag;
// `arbor verify` accepts the release and refuses a wrong key or a tampered signature with one
// located line and exit 1; a tag-only apply signs the new tags; `arbor diff` lists the package
// changes of a rebuild; inspect and explain show what is attached; passphrases never appear.
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arbor } from '../support/cli.js';
import { requireEngine } from '../support/engine.js';
import { createGpgHome, type GpgHome } from '../support/gpg.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { skopeoCopy } from '../support/skopeo-site.js';
import { DPKG_STATUS } from '../support/tar-image.js';
import { copyDefaultTree, removeLocalImages, type TreeCopy } from '../support/tree.js';

const GPG_PASSPHRASE = 'gpg-passphrase-never-shown';
const KEY_PASSPHRASE = 'cosign-passphrase-never-shown';
const IMAGES = 10;

let registry: TestRegistry;
let tree: TreeCopy;
let gpgHome: GpgHome;
let stranger: GpgHome;

beforeAll(async () => {
  requireEngine();
  registry = await startRegistry();
  tree = await copyDefaultTree(registry.host);
  gpgHome = createGpgHome('release-signer', GPG_PASSPHRASE);
  stranger = createGpgHome('stranger');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  mkdirSync(join(tree.dir, 'keys'));
  writeFileSync(
    join(tree.dir, 'keys', 'cosign.key'),
    privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: KEY_PASSPHRASE }),
  );
  writeFileSync(join(tree.dir, 'keys', 'cosign.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(tree.dir, 'keys', 'gpg-passphrase'), `${GPG_PASSPHRASE}\n`);
  gpgHome.exportPublic(join(tree.dir, 'keys', 'signer.gpg'));
  stranger.exportPublic(join(tree.dir, 'keys', 'stranger.gpg'));
  // nova-base lists its packages with its content-fingerprint command; keystone carries a dpkg
  // database its SBOM is read from (layer scan).
  writeFileSync(
    join(tree.dir, 'images', 'nova-base', 'packages.txt'),
    'python3-nova\t31.0.0-1\nlibssl3\t3.0.15-1\nzlib1g\t1:1.2.13\n',
  );
  await tree.edit(
    'templates/nova-base.Dockerfile.njk',
    'COPY nova.conf /etc/nova/nova.conf',
    'COPY nova.conf /etc/nova/nova.conf\nCOPY packages.txt /var/lib/arbor/packages.txt',
  );
  writeFileSync(join(tree.dir, 'images', 'keystone', 'status'), DPKG_STATUS);
  await tree.edit(
    'templates/keystone.Dockerfile.njk',
    'COPY keystone.conf',
    'COPY status /var/lib/dpkg/status\nCOPY keystone.conf',
  );
  await tree.edit(
    'images.yaml',
    '  nova-base:\n    parent: openstack-base\n',
    '  nova-base:\n    parent: openstack-base\n    content_fingerprint: { command: "cat /var/lib/arbor/packages.txt" }\n',
  );
  await tree.edit(
    'images.yaml',
    '\nimages:\n',
    `
metadata:
  vendor: Example Cloud
  licenses: Apache-2.0
signing:
  gpg: { key: ${gpgHome.fingerprint}, lookaside: sigstore, passphrase_file: keys/gpg-passphrase }
  sigstore: { key: keys/cosign.key, passphrase_env: COSIGN_PASSPHRASE }
images:
`,
  );
});

afterAll(async () => {
  if (registry) removeLocalImages(registry.host);
  await tree?.remove();
  if (registry) await destroyRegistry(registry);
  gpgHome?.remove();
  stranger?.remove();
});

const env = () => ({ GNUPGHOME: gpgHome.home, COSIGN_PASSPHRASE: KEY_PASSPHRASE });
const run = (...args: string[]) => arbor([...args, '-f', tree.file], { cwd: tree.dir, env: env() });
const noSecrets = (text: string) => {
  expect(text).not.toContain(GPG_PASSPHRASE);
  expect(text).not.toContain(KEY_PASSPHRASE);
};

/** skopeo as a site trusting `keyFile`, reading the tree's lookaside directory. */
function skopeoAccepts(ref: string, keyFile: string) {
  return skopeoCopy(
    { registry: registry.host, keyFile, lookaside: join(tree.dir, 'sigstore'), work: tree.dir },
    ref,
  );
}

describe('signing with apply, verify, diff', () => {
  it('refuses a wrong passphrase before anything is pushed, at the key in images.yaml', () => {
    const r = arbor(['apply', '--auto-approve', '-f', tree.file], {
      cwd: tree.dir,
      env: { ...env(), COSIGN_PASSPHRASE: 'not-the-passphrase' },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /images\.yaml:\d+:\d+: error: signing\.sigstore: cannot decrypt .*cosign\.key: wrong passphrase/,
    );
    expect(r.stdout).not.toContain('Apply:');
    const tags = spawnSync(
      'skopeo',
      ['list-tags', '--tls-verify=false', `docker://${registry.host}/arbor-demo/base`],
      { encoding: 'utf8' },
    );
    expect(tags.status).not.toBe(0);
  });

  it('signs every image apply publishes; skopeo and arbor verify accept them', () => {
    const applied = run('apply', '--auto-approve');
    noSecrets(applied.stdout + applied.stderr);
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain(
      `Signing: ${IMAGES} image(s), ${IMAGES * 3} GPG signature(s) written, ${IMAGES * 3} attachment(s) added.`,
    );
    for (const tag of ['2025.1', '2025.1-p5'])
      expect(
        skopeoAccepts(`${registry.host}/arbor-demo/keystone:${tag}`, join(tree.dir, 'keys', 'signer.gpg'))
          .status,
      ).toBe(0);
    expect(
      skopeoAccepts(`${registry.host}/arbor-demo/keystone:2025.1`, join(tree.dir, 'keys', 'stranger.gpg'))
        .status,
    ).not.toBe(0);

    const verified = run('verify', '--release', '2025.1-p5');
    noSecrets(verified.stdout + verified.stderr);
    expect(verified.stderr).toBe('');
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(
      /^ok {2}127\.0\.0\.1:\d+\/arbor-demo\/keystone:2025\.1-p5 {2}sha256:[0-9a-f]{64} {2}gpg, sigstore, sbom \(sigstore\), provenance \(sigstore\)$/m,
    );
    expect(verified.stdout).toContain(`Verify: ${IMAGES} of ${IMAGES} image(s) verified.`);

    const labels = JSON.parse(
      execFileSync(
        'skopeo',
        ['inspect', '--tls-verify=false', '--config', `docker://${registry.host}/arbor-demo/nova-api:2025.1`],
        { encoding: 'utf8' },
      ),
    ).config.Labels;
    expect(labels).toMatchObject({
      'org.opencontainers.image.vendor': 'Example Cloud',
      'org.opencontainers.image.licenses': 'Apache-2.0',
      'org.opencontainers.image.title': 'nova-api',
      'org.opencontainers.image.version': '2025.1',
    });
    expect(labels['org.opencontainers.image.base.name']).toMatch(/\/arbor-demo\/nova-base:fp-[0-9a-f]{24}$/);
    // The parent's digest is known once it is published: the manifest's annotations carry it.
    const skopeoRaw = (ref: string) =>
      JSON.parse(
        execFileSync('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${ref}`], {
          encoding: 'utf8',
        }),
      ) as { annotations?: Record<string, string> };
    const annotations = skopeoRaw(`${registry.host}/arbor-demo/nova-api:2025.1`).annotations ?? {};
    expect(annotations['org.opencontainers.image.base.name']).toBe(
      labels['org.opencontainers.image.base.name'],
    );
    const parentDigest = execFileSync(
      'skopeo',
      [
        'inspect',
        '--tls-verify=false',
        '--format',
        '{{.Digest}}',
        `docker://${registry.host}/arbor-demo/nova-base:2025.1`,
      ],
      { encoding: 'utf8' },
    ).trim();
    expect(annotations['org.opencontainers.image.base.digest']).toBe(parentDigest);

    const inspected = arbor(['inspect', '--insecure', `${registry.host}/arbor-demo/keystone:2025.1`]);
    expect(inspected.stdout).toMatch(/Attached:\n( {2}(signature|sbom|provenance) +sha256:.*\n?){3}/);
    const explained = run('explain', 'keystone');
    expect(explained.stdout).toMatch(/Attached:\n {2}/);
  });

  it('refuses a wrong key, a tampered signature and an unsigned tag with one located line each', () => {
    const wrongKey = run('verify', '--tag', '2025.1', '--gpg-key', join(tree.dir, 'keys', 'stranger.gpg'));
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(
      /^error: image base: 127\.0\.0\.1:\d+\/arbor-demo\/base:2025\.1: GPG signature .*signature-1: signed by key [0-9A-F]+, which is not trusted/m,
    );

    const dir = join(tree.dir, 'sigstore', 'arbor-demo');
    const cronDir = readdirSync(dir).find((d) => d.startsWith('cron@'))!;
    const signature = join(dir, cronDir, 'signature-1');
    const bytes = execFileSync('cat', [signature]);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 5) ^ 0xff, bytes.length - 5);
    writeFileSync(signature, bytes);
    const tampered = arbor([
      'verify',
      '--gpg-key',
      join(tree.dir, 'keys', 'signer.gpg'),
      '--lookaside',
      join(tree.dir, 'sigstore'),
      '--insecure',
      `${registry.host}/arbor-demo/cron:2025.1`,
      `${registry.host}/arbor-demo/base:2025.1`,
    ]);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toMatch(/^ok {2}.*\/base:2025\.1 /m);
    const lines = tampered.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error: 127\.0\.0\.1:\d+\/arbor-demo\/cron:2025\.1: /);

    // Nothing to apply, but the signature that no longer holds is made again: a rerun converges.
    const rerun = run('apply', '--auto-approve');
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toContain('No changes');
    expect(rerun.stdout).toContain(
      `Signing: ${IMAGES} image(s), 1 GPG signature(s) written, 0 attachment(s) added.`,
    );
    expect(run('verify', '--tag', '2025.1').code).toBe(0);
  });

  it('a tag-only apply signs the new tags and attaches nothing twice; diff lists the package changes', async () => {
    await tree.edit('images.yaml', 'patch: 5', 'patch: 6');
    const tagged = run('apply', '--auto-approve');
    expect(tagged.code).toBe(0);
    // One signature per new tag.
    expect(tagged.stdout).toContain(
      `Signing: ${IMAGES} image(s), ${IMAGES} GPG signature(s) written, 0 attachment(s) added.`,
    );
    expect(
      skopeoAccepts(`${registry.host}/arbor-demo/glance-api:2025.1-p6`, join(tree.dir, 'keys', 'signer.gpg'))
        .status,
    ).toBe(0);

    // A security update of nova-base's packages: it and its children are rebuilt.
    writeFileSync(
      join(tree.dir, 'images', 'nova-base', 'packages.txt'),
      'python3-nova\t31.0.0-1\nlibssl3\t3.0.16-1\nca-certificates\t20230311\n',
    );
    await tree.edit('images.yaml', 'patch: 6', 'patch: 7');
    const rebuilt = run('apply', '--auto-approve');
    expect(rebuilt.code).toBe(0);
    expect(run('verify', '--release', '2025.1-p7').code).toBe(0);

    const diff = run('diff', '2025.1-p5', '2025.1-p7');
    expect(diff.stderr).toBe('');
    expect(diff.code).toBe(0);
    expect(diff.stdout).toContain(
      'nova-base:\n  + ca-certificates 20230311\n  - zlib1g 1:1.2.13\n  ~ libssl3 3.0.15-1 → 3.0.16-1\n',
    );
    expect(diff.stdout).toContain('nova-api: rebuilt, same packages');
    expect(diff.stdout).not.toContain('keystone');
    expect(diff.stdout).toContain('Diff: 3 image(s) changed between 2025.1-p5 and 2025.1-p7.');
  });

  it('promote, sync and bundle push sign the tags they write for the registry they write to', async () => {
    const site = await startRegistry();
    try {
      const signerKey = join(tree.dir, 'keys', 'signer.gpg');
      const at = (host: string, lookaside: string, ref: string, keyFile = signerKey) =>
        skopeoCopy({ registry: host, keyFile, lookaside: join(tree.dir, lookaside), work: tree.dir }, ref);
      await tree.edit(
        'images.yaml',
        '\nimages:\n',
        `\npromote:\n  - name: site\n    registry: { url: "${site.host}", namespace: site, insecure: true }\n    sign: { lookaside: sigstore-site }\nimages:\n`,
      );
      const promoted = run('promote', 'apply', '--auto-approve');
      noSecrets(promoted.stdout + promoted.stderr);
      expect(promoted.code).toBe(0);
      // Every image has 2025.1 and 2025.1-p7 at the site (promotion leaves fingerprint tags home).
      expect(promoted.stdout).toMatch(
        new RegExp(`site: ${IMAGES * 2} GPG signature\\(s\\) written to sigstore-site\\.`),
      );
      const keystone = `${site.host}/site/keystone:2025.1`;
      expect(at(site.host, 'sigstore-site', keystone).status).toBe(0);
      // The tree's own signatures name the tree's registry: the site's skopeo refuses them.
      expect(at(site.host, 'sigstore', keystone).status).not.toBe(0);
      const again = run('promote', 'apply', '--auto-approve');
      expect(again.stdout).toContain('No changes');
      expect(again.stdout).toContain('site: 0 GPG signature(s) written to sigstore-site.');

      // A site signs with its own key what it syncs and what it loads from a bundle.
      const siteKey = join(tree.dir, 'keys', 'stranger.gpg');
      const siteEnv = { GNUPGHOME: stranger.home };
      const synced = arbor(
        [
          'sync',
          '--insecure',
          '--auto-approve',
          '--sign-by',
          stranger.fingerprint,
          '--sign-lookaside',
          join(tree.dir, 'sigstore-synced'),
          `${registry.host}/arbor-demo`,
          `${site.host}/synced`,
        ],
        { cwd: tree.dir, env: siteEnv },
      );
      expect(synced.stderr).not.toMatch(/error/);
      expect(synced.code).toBe(0);
      expect(synced.stdout).toMatch(/\d+ GPG signature\(s\) written to sigstore-synced\./);
      expect(at(site.host, 'sigstore-synced', `${site.host}/synced/nova-api:2025.1-p7`, siteKey).status).toBe(
        0,
      );
      expect(at(site.host, 'sigstore-synced', `${site.host}/synced/nova-api:2025.1-p7`).status).not.toBe(0);

      const file = join(tree.dir, 'release.bundle');
      expect(run('bundle', '--release', '2025.1-p7', '--out', file).code).toBe(0);
      const pushed = arbor(
        [
          'bundle',
          'push',
          file,
          `${site.host}/loaded`,
          '--insecure',
          '--auto-approve',
          '--sign-by',
          stranger.fingerprint,
          '--sign-lookaside',
          join(tree.dir, 'sigstore-loaded'),
        ],
        { cwd: tree.dir, env: siteEnv },
      );
      expect(pushed.code).toBe(0);
      expect(pushed.stdout).toMatch(/\d+ GPG signature\(s\) written to sigstore-loaded\./);
      expect(at(site.host, 'sigstore-loaded', `${site.host}/loaded/glance-api:2025.1`, siteKey).status).toBe(
        0,
      );

      // A key that is not there stops before anything moves.
      const noKey = arbor(
        [
          'sync',
          '--insecure',
          '--auto-approve',
          '--sign-by',
          gpgHome.fingerprint,
          '--sign-lookaside',
          'x',
          `${registry.host}/arbor-demo`,
          `${site.host}/never`,
        ],
        { cwd: tree.dir, env: siteEnv },
      );
      expect(noKey.code).toBe(1);
      expect(noKey.stderr).toMatch(
        new RegExp(`^error: --sign-by ${gpgHome.fingerprint}: no secret key`, 'm'),
      );
      const tags = spawnSync('skopeo', [
        'list-tags',
        '--tls-verify=false',
        `docker://${site.host}/never/base`,
      ]);
      expect(tags.status).not.toBe(0);
    } finally {
      await destroyRegistry(site);
    }
  });
});
