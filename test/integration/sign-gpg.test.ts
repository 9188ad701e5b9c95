// GPG simple signing against its oracle, Debian's skopeo 1.9.3, both ways: skopeo with a
// `signedBy` GPGKeys policy and a registries.d lookaside accepts the signatures arbor writes and
// refuses a wrong key or a changed image; arbor accepts the signatures `skopeo copy --sign-by`
// writes and refuses them for another key, another tag or another manifest.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { parseReference } from '../../src/registry/reference.js';
import { gpgExportPublicKey, gpgSign } from '../../src/sign/gpg.js';
import {
  addGpgSignatures,
  checkReferenceSignatures,
  checkStoredSignatures,
  type GpgSigningKey,
  gpgProblem,
} from '../../src/sign/gpg-signatures.js';
import { openGpgSigner } from '../../src/sign/keys.js';
import { lookasideBase, signaturePath } from '../../src/sign/lookaside.js';
import { type PublicKeyring, readKeyring } from '../../src/sign/openpgp-verify.js';
import { simpleSigningPayload } from '../../src/sign/simple-signing.js';
import { createGpgHome, type GpgHome } from '../support/gpg.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { skopeoCopy } from '../support/skopeo-site.js';
import { pushImage } from './registry-fixtures.js';

let registry: TestRegistry;
let client: RegistryClient;
let signer: GpgHome;
let stranger: GpgHome;
let work: string;
/** The same key signing in process (OpenPGP.js) and with gpg processes (the exact-subkey form). */
let signers: Record<'in process' | 'gpg processes', GpgSigningKey>;
let keyring: PublicKeyring;

beforeAll(async () => {
  registry = await startRegistry();
  client = createRegistryClient({ registry: registry.host, insecure: true });
  signer = createGpgHome('arbor-signer', 'correct horse');
  stranger = createGpgHome('stranger');
  work = mkdtempSync(join(tmpdir(), 'arbor-sign-gpg-'));
  signer.exportPublic(join(work, 'signer.gpg'));
  stranger.exportPublic(join(work, 'stranger.gpg'));
  keyring = await readKeyring(await gpgExportPublicKey(signer.fingerprint, { env: signer.env }));
  const gpg = { env: signer.env, passphrase: 'correct horse' };
  const signingKey = async (key: string, inProcess: boolean): Promise<GpgSigningKey> => {
    const opened = await openGpgSigner(key, gpg);
    expect(opened.inProcess).toBe(inProcess);
    return {
      key,
      keyring: async () => keyring,
      sign: opened.sign,
      lookaside: join(work, inProcess ? 'lookaside' : 'lookaside-gpg'),
      gpg,
      creator: 'arbor test',
    };
  };
  signers = {
    'in process': await signingKey(signer.fingerprint, true),
    'gpg processes': await signingKey(`${signer.fingerprint}!`, false),
  };
});

afterAll(async () => {
  await client?.close();
  if (registry) await destroyRegistry(registry);
  signer?.remove();
  stranger?.remove();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** skopeo as a site trusting `keyFile`, reading signatures from `lookaside`. */
function skopeo(
  ref: string,
  keyFile: string,
  lookaside: string,
  options: Parameters<typeof skopeoCopy>[2] = {},
) {
  return skopeoCopy({ registry: registry.host, keyFile, lookaside, work }, ref, options);
}

describe('GPG simple signing', () => {
  it.each([
    ['in process', 'ns/app'],
    ['gpg processes', 'ns/app-gpg'],
  ] as const)(
    'skopeo accepts what arbor signed (%s), and refuses a wrong key and a changed image',
    async (how, repository) => {
      const signing = signers[how];
      const image = await pushImage(client, repository, 'v1', { layerSizes: [300] });
      await client.putManifest(
        repository,
        'v2',
        image.manifest,
        'application/vnd.oci.image.manifest.v1+json',
      );
      const identity = (tag: string) => `${registry.host}/${repository}:${tag}`;
      const written = await addGpgSignatures(
        signing,
        repository,
        image.digest,
        [identity('v1'), identity('v2')],
        new Date(),
      );
      expect(written.map((f) => f.split('/').at(-1))).toEqual(['signature-1', 'signature-2']);
      expect(written[0]).toContain(`${join(signing.lookaside, repository)}@sha256=${image.digest.slice(7)}`);
      // Signing again adds nothing: every identity is already signed.
      expect(await addGpgSignatures(signing, repository, image.digest, [identity('v1')], new Date())).toEqual(
        [],
      );
      // arbor's record beside the signatures only says where to look: with the two files
      // swapped, each tag is still found, and by verifying it.
      const folder = join(signing.lookaside, signaturePath(repository, image.digest));
      const swap = () => {
        renameSync(join(folder, 'signature-1'), join(folder, 'swap'));
        renameSync(join(folder, 'signature-2'), join(folder, 'signature-1'));
        renameSync(join(folder, 'swap'), join(folder, 'signature-2'));
      };
      swap();
      for (const tag of ['v1', 'v2'])
        expect(
          await checkReferenceSignatures(
            { kind: 'dir', dir: signing.lookaside },
            parseReference(identity(tag)),
            image.digest,
            keyring,
          ),
        ).toEqual({ valid: 1, problem: null });
      swap();

      const accepted = skopeo(identity('v1'), join(work, 'signer.gpg'), signing.lookaside);
      expect(accepted.stderr).toBe('');
      expect(accepted.status).toBe(0);
      expect(skopeo(identity('v2'), join(work, 'signer.gpg'), signing.lookaside).status).toBe(0);

      const wrongKey = skopeo(identity('v1'), join(work, 'stranger.gpg'), signing.lookaside);
      expect(wrongKey.status).not.toBe(0);
      expect(wrongKey.stderr).toMatch(/not accepted|rejected|no signature/i);

      // A tag without its own signature is refused (the identity is the tag).
      await client.putManifest(
        repository,
        'v3',
        image.manifest,
        'application/vnd.oci.image.manifest.v1+json',
      );
      expect(skopeo(identity('v3'), join(work, 'signer.gpg'), signing.lookaside).status).not.toBe(0);

      // v1 now names another image; its signatures are copied over as an attacker would.
      const other = await pushImage(client, repository, 'v1', { layerSizes: [301] });
      const stolen = join(signing.lookaside, signaturePath(repository, other.digest));
      cpSync(join(signing.lookaside, signaturePath(repository, image.digest)), stolen, { recursive: true });
      const changed = skopeo(identity('v1'), join(work, 'signer.gpg'), signing.lookaside);
      expect(changed.status).not.toBe(0);
      expect(changed.stderr).toMatch(/digest|not accepted|rejected/i);
      // arbor refuses it too, saying why.
      const checks = await checkStoredSignatures(
        { kind: 'dir', dir: signing.lookaside },
        repository,
        other.digest,
        keyring,
      );
      expect(gpgProblem(parseReference(identity('v1')), checks)).toMatch(
        /signs sha256:.*, not this manifest/,
      );
    },
  );

  it("a signature after a gap in signature-N (an old key's files removed) counts as missing, as skopeo sees it, and is signed again", async () => {
    const signing = signers['in process'];
    const repository = 'ns/gap';
    const image = await pushImage(client, repository, 'old', { layerSizes: [302] });
    await client.putManifest(repository, 'new', image.manifest, 'application/vnd.oci.image.manifest.v1+json');
    const identity = (tag: string) => `${registry.host}/${repository}:${tag}`;
    await addGpgSignatures(signing, repository, image.digest, [identity('old')], new Date());
    await addGpgSignatures(signing, repository, image.digest, [identity('new')], new Date());
    const folder = join(signing.lookaside, signaturePath(repository, image.digest));
    // The first signature removed by hand: signature-2 (the new tag's) is now after a gap.
    rmSync(join(folder, 'signature-1'));
    const check = () =>
      checkReferenceSignatures(
        { kind: 'dir', dir: signing.lookaside },
        parseReference(identity('new')),
        image.digest,
        keyring,
      );
    expect(skopeo(identity('new'), join(work, 'signer.gpg'), signing.lookaside).status).not.toBe(0);
    expect((await check()).valid).toBe(0);
    // Signing again writes it where readers find it (the first free name), and both agree.
    const written = await addGpgSignatures(signing, repository, image.digest, [identity('new')], new Date());
    expect(written.map((f) => f.split('/').at(-1))).toEqual(['signature-1']);
    expect(await check()).toEqual({ valid: 1, problem: null });
    expect(skopeo(identity('new'), join(work, 'signer.gpg'), signing.lookaside).status).toBe(0);
  });

  it('a signature made while its key was valid is refused once the key has expired, as skopeo refuses it', async () => {
    const expired = createGpgHome('expired', '', { past: '20240101T000000', expire: '1d' });
    try {
      const repository = 'ns/expired';
      const image = await pushImage(client, repository, 'v1', { layerSizes: [303] });
      const identity = `${registry.host}/${repository}:v1`;
      const folder = join(work, 'lookaside-expired', signaturePath(repository, image.digest));
      mkdirSync(folder, { recursive: true });
      const payload = join(work, 'expired-payload.json');
      writeFileSync(
        payload,
        simpleSigningPayload(
          { dockerReference: identity, digest: image.digest },
          { creator: 'test', timestamp: 1704070800 },
        ),
      );
      expired.signAtPast(payload, join(folder, 'signature-1'));
      expired.exportPublic(join(work, 'expired.gpg'));
      const ring = await readKeyring(await readFile(join(work, 'expired.gpg')));
      const checked = await checkReferenceSignatures(
        { kind: 'dir', dir: join(work, 'lookaside-expired') },
        parseReference(identity),
        image.digest,
        ring,
      );
      expect(checked.valid).toBe(0);
      expect(checked.problem).toMatch(/expired on 2024-01-02/);
      expect(skopeo(identity, join(work, 'expired.gpg'), join(work, 'lookaside-expired')).status).not.toBe(0);
    } finally {
      expired.remove();
    }
  });

  it('a protected key without its passphrase says so, not what gpg says about ioctls', async () => {
    // A home of its own: the other tests' agent has the signer's passphrase cached.
    const locked = createGpgHome('locked', 'a long passphrase');
    try {
      await expect(gpgSign(locked.fingerprint, Buffer.from('payload'), { env: locked.env })).rejects.toThrow(
        /the key is protected by a passphrase and none was given \(passphrase_env or passphrase_file/,
      );
    } finally {
      locked.remove();
    }
  });

  it('arbor verifies what `skopeo copy --sign-by` signed, and only for that key, tag and manifest', async () => {
    const image = await pushImage(client, 'ns/app', 'skopeo', { layerSizes: [302] });
    const lookaside = join(work, 'skopeo-lookaside');
    const passphraseFile = join(work, 'passphrase');
    writeFileSync(passphraseFile, 'correct horse');
    const signed = skopeo(`${registry.host}/ns/app:skopeo`, join(work, 'signer.gpg'), lookaside, {
      extra: [
        '--preserve-digests',
        '--sign-by',
        signer.fingerprint,
        '--sign-passphrase-file',
        passphraseFile,
      ],
      env: signer.env,
      signTo: `${registry.host}/ns/copied:skopeo`,
    });
    expect(signed.stderr).not.toMatch(/error|fatal/i);
    expect(signed.status).toBe(0);
    const copied = `${registry.host}/ns/copied:skopeo`;
    const digest = execFileSync(
      'skopeo',
      ['inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://${copied}`],
      {
        encoding: 'utf8',
      },
    ).trim();
    expect(digest).toBe(image.digest);
    expect(readdirSync(join(lookaside, signaturePath('ns/copied', digest)))).toEqual(['signature-1']);

    const checks = await checkStoredSignatures({ kind: 'dir', dir: lookaside }, 'ns/copied', digest, keyring);
    expect(checks).toMatchObject([{ identity: copied, digest, fingerprint: signer.fingerprint }]);
    expect(gpgProblem(parseReference(copied), checks)).toBeNull();

    // The same lookaside published by a static web server, as sites read it.
    const server = createServer((req, res) => {
      const file = join(lookaside, decodeURIComponent(new URL(req.url!, 'http://x').pathname));
      readFile(file).then(
        (bytes) => res.end(bytes),
        () => {
          res.statusCode = 404;
          res.end();
        },
      );
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      const overHttp = await checkReferenceSignatures(
        lookasideBase(`http://127.0.0.1:${port}/`),
        parseReference(copied),
        digest,
        keyring,
      );
      expect(overHttp).toEqual({ valid: 1, problem: null });
      const otherTag = await checkReferenceSignatures(
        lookasideBase(`http://127.0.0.1:${port}`),
        parseReference(`${registry.host}/ns/copied:other`),
        digest,
        keyring,
      );
      expect(otherTag.problem).toMatch(/no GPG signature names .*:other/);
    } finally {
      server.close();
    }
    expect(gpgProblem(parseReference(`${registry.host}/ns/copied@${digest}`), checks)).toBeNull();
    expect(gpgProblem(parseReference(`${registry.host}/ns/copied:other`), checks)).toMatch(
      /no GPG signature names/,
    );

    const strangerKeyring = await readKeyring(
      await gpgExportPublicKey(stranger.fingerprint, { env: stranger.env }),
    );
    const refused = await checkStoredSignatures(
      { kind: 'dir', dir: lookaside },
      'ns/copied',
      digest,
      strangerKeyring,
    );
    expect(gpgProblem(parseReference(copied), refused)).toMatch(
      /signature-1: signed by key [0-9A-F]+, which is not trusted/,
    );
  });
});
