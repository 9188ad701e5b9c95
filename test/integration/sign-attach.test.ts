// Sigstore bundles, SBOMs and provenance attached to real images on distribution 2.8 (no
// referrers API: the sha256-<hex> fallback index), checked by the sigstore project's own verifier
// (@sigstore/verify) against the public key, the SBOM against the official SPDX 2.3 schema; a
// second run attaches nothing; tampering, a wrong key and a moved tag are refused by verifyImage.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleFromJSON } from '@sigstore/bundle';
import { toSignedEntity, Verifier } from '@sigstore/verify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatDiagnostic } from '../../src/errors.js';
import { attachArtifact } from '../../src/registry/attach.js';
import { createRegistryClient, type RegistryClient } from '../../src/registry/client.js';
import { parseReference } from '../../src/registry/reference.js';
import { KEY_ANNOTATION } from '../../src/sign/attachments.js';
import type { SigningKeys } from '../../src/sign/keys.js';
import { type PublishedImage, signPublished } from '../../src/sign/publish.js';
import { loadPublicKey, loadSigningKey, SIGSTORE_BUNDLE_MEDIA_TYPE } from '../../src/sign/sigstore.js';
import { checkSignatures, sbomPackages, verifyImage } from '../../src/sign/verify.js';
import { destroyRegistry, startRegistry, type TestRegistry } from '../support/registry.js';
import { DPKG_STATUS, pushTarImage } from '../support/tar-image.js';
import { schemaErrors } from '../unit/export/schemas.js';

let registry: TestRegistry;
let client: RegistryClient;
let work: string;
let keys: SigningKeys;

function keyFiles(dir: string, passphrase: string) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(
    join(dir, 'cosign.key'),
    privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase }),
  );
  writeFileSync(join(dir, 'cosign.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
}

beforeAll(async () => {
  registry = await startRegistry();
  client = createRegistryClient({ registry: registry.host, insecure: true });
  work = mkdtempSync(join(tmpdir(), 'arbor-sign-attach-'));
  keyFiles(work, 'sesame');
  const privateKey = await loadSigningKey(join(work, 'cosign.key'), 'sesame');
  keys = {
    sigstore: { privateKey, publicKey: await loadPublicKey(join(work, 'cosign.pub')) },
    sbom: true,
    provenance: true,
  };
});

afterAll(async () => {
  await client?.close();
  if (registry) await destroyRegistry(registry);
  if (work) rmSync(work, { recursive: true, force: true });
});

const context = () => ({
  keys,
  client,
  config: {
    file: '/x/images.yaml',
    configDigest: `sha256:${'c'.repeat(64)}`,
    registry: { url: registry.host, namespace: 'ns', insecure: true },
  },
  git: { commit: 'a'.repeat(40), branch: 'main' },
  builder: async () => ({ name: 'docker', version: 'Docker version 20.10.24' }),
});

function published(digest: string, name = 'app'): PublishedImage {
  return {
    name,
    repository: `${registry.host}/ns/${name}`,
    repositoryPath: `ns/${name}`,
    digest,
    tags: ['1.0', 'fp-0123'],
    fingerprint: `sha256:${'f'.repeat(64)}`,
    inputs: [{ kind: 'file', name: 'lists/app.txt', hash: `sha256:${'1'.repeat(64)}` }],
    parent: { reference: `${registry.host}/ns/base:fp-4567`, digest: `sha256:${'2'.repeat(64)}` },
  };
}

/** The sigstore project's verifier, with nothing of arbor's verification code. */
function oracle(bundleJson: unknown) {
  const publicKey = keys.sigstore!.publicKey;
  const verifier = new Verifier(
    {
      certificateAuthorities: [],
      timestampAuthorities: [],
      tlogs: [],
      ctlogs: [],
      publicKey: () => ({ publicKey, validFor: () => true }),
    },
    { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 },
  );
  verifier.verify(toSignedEntity(bundleFromJSON(bundleJson)));
  const envelope = (bundleJson as { dsseEnvelope: { payload: string } }).dsseEnvelope;
  return JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8'));
}

async function bundles(repository: string, digest: string) {
  const listed = await client.referrers(repository, digest, { artifactType: SIGSTORE_BUNDLE_MEDIA_TYPE });
  return Promise.all(
    listed.manifests.map(async (d) => {
      const manifest = await client.getManifest(repository, d.digest);
      const layer = (manifest.json as { layers: { digest: string }[] }).layers[0]!;
      const blob = await client.getBlob(repository, layer.digest);
      const chunks: Buffer[] = [];
      for await (const c of blob.stream) chunks.push(c as Buffer);
      return { descriptor: d, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
    }),
  );
}

describe('sigstore bundles, SBOM and provenance', () => {
  it('attaches what @sigstore/verify accepts, an SPDX 2.3 SBOM from the layers, and a provenance statement', async () => {
    const image = await pushTarImage(client, 'ns/app', '1.0', [
      [
        { name: 'etc/os-release', content: 'PRETTY_NAME="Debian GNU/Linux 12"\nID=debian\n' },
        { name: 'var/lib/dpkg/status', content: DPKG_STATUS },
        {
          name: 'usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA',
          content: 'Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\n\nbody',
        },
        {
          name: 'usr/lib/python3/dist-packages/gone-1.0.dist-info/METADATA',
          content: 'Name: gone\nVersion: 1.0\n',
        },
      ],
      // A later layer deletes one distribution: the SBOM must not list it.
      [{ name: 'usr/lib/python3/dist-packages/.wh.gone-1.0.dist-info' }],
    ]);
    const [first] = await signPublished([published(image.digest)], context());
    expect(first!.attached.sort()).toEqual(['provenance', 'sbom', 'signature']);

    const found = await bundles('ns/app', image.digest);
    expect(found).toHaveLength(3);
    const statements = found.map((b) => oracle(b.json));
    for (const s of statements) expect(s.subject[0].digest).toEqual({ sha256: image.digest.slice(7) });
    const byType = Object.fromEntries(statements.map((s) => [s.predicateType, s]));
    expect(byType['https://sigstore.dev/cosign/sign/v1'].predicate).toEqual({});
    const sbom = byType['https://spdx.dev/Document'].predicate;
    expect(schemaErrors('spdx', sbom)).toEqual([]);
    const names = sbom.packages.map(
      (p: { name: string; versionInfo: string }) => `${p.name}@${p.versionInfo}`,
    );
    expect(names).toEqual([
      `${registry.host}/ns/app@${image.digest}`,
      'libc6@2.36-9+deb12u7',
      'openssl@3.0.15-1~deb12u1',
      'requests@2.31.0',
    ]);
    expect(JSON.stringify(sbom)).toContain('pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64');
    const provenance = byType['https://slsa.dev/provenance/v1'].predicate;
    expect(provenance.buildDefinition.internalParameters.fingerprint).toBe(`sha256:${'f'.repeat(64)}`);
    expect(provenance.buildDefinition.resolvedDependencies).toEqual(
      expect.arrayContaining([
        { name: 'source', digest: { gitCommit: 'a'.repeat(40) } },
        { name: 'parent', uri: `${registry.host}/ns/base:fp-4567`, digest: { sha256: '2'.repeat(64) } },
        { name: 'input:file:lists/app.txt', digest: { sha256: '1'.repeat(64) } },
      ]),
    );
    expect(provenance.runDetails.builder.version.docker).toBe('Docker version 20.10.24');

    // Again: everything is there, nothing is attached twice.
    const [again] = await signPublished([published(image.digest)], context());
    expect(again!.attached).toEqual([]);
    expect(await bundles('ns/app', image.digest)).toHaveLength(3);

    const verified = await verifyImage(
      client,
      { reference: parseReference(`${registry.host}/ns/app:1.0`) },
      {
        sigstore: keys.sigstore!.publicKey,
        require: ['sbom', 'provenance'],
      },
    );
    expect(verified.problems).toEqual([]);
    expect(sbomPackages(verified)?.map((p) => p.name)).toEqual(['libc6', 'openssl', 'requests']);
  });

  it('refuses a tampered bundle, a wrong key and a tag moved to an unsigned image', async () => {
    const image = await pushTarImage(client, 'ns/tamper', '1.0', [
      [{ name: 'etc/hostname', content: 'x\n' }],
    ]);
    await signPublished([published(image.digest, 'tamper')], context());
    const reference = parseReference(`${registry.host}/ns/tamper:1.0`);
    const policy = {
      sigstore: keys.sigstore!.publicKey,
      require: ['sbom', 'provenance'] as Array<'sbom' | 'provenance'>,
    };
    expect((await verifyImage(client, { reference }, policy)).problems).toEqual([]);

    // A copy of the signature bundle whose statement names another image, attached with our key's annotation.
    const [signature] = (await bundles('ns/tamper', image.digest)).filter(
      (b) =>
        b.descriptor.annotations?.['dev.sigstore.bundle.predicateType'] ===
        'https://sigstore.dev/cosign/sign/v1',
    );
    const forged = structuredClone(signature!.json);
    const payload = JSON.parse(Buffer.from(forged.dsseEnvelope.payload, 'base64').toString());
    payload.predicate = { forged: true };
    forged.dsseEnvelope.payload = Buffer.from(JSON.stringify(payload)).toString('base64');
    const head = (await client.headManifest('ns/tamper', image.digest))!;
    await attachArtifact(client, 'ns/tamper', {
      artifactType: SIGSTORE_BUNDLE_MEDIA_TYPE,
      subject: { mediaType: head.mediaType, digest: head.digest, size: head.size },
      blobs: [{ mediaType: SIGSTORE_BUNDLE_MEDIA_TYPE, bytes: Buffer.from(JSON.stringify(forged)) }],
      annotations: {
        ...signature!.descriptor.annotations,
        [KEY_ANNOTATION]: signature!.descriptor.annotations![KEY_ANNOTATION]!,
      },
    });
    expect(() => oracle(forged)).toThrow(/signature verification failed/);
    const tampered = await verifyImage(client, { reference }, policy);
    expect(tampered.problems).toEqual([
      expect.stringMatching(/^signature sha256:[0-9a-f]+: signature does not verify with the public key/),
    ]);

    const { publicKey: otherKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const wrong = await verifyImage(client, { reference }, { sigstore: otherKey, require: [] });
    expect(wrong.problems).toContain('no sigstore signature made with the public key');

    await pushTarImage(client, 'ns/tamper', '1.0', [[{ name: 'etc/hostname', content: 'y\n' }]]);
    const moved = await verifyImage(client, { reference }, policy);
    expect(moved.problems).toEqual([
      'no sigstore signature made with the public key',
      'no signed SBOM',
      'no signed provenance',
    ]);
  });

  it('checkSignatures (promote/sync require_signature) names each unsigned image, and passes signed ones', async () => {
    const signed = await pushTarImage(client, 'ns/gate', 'signed', [[{ name: 'etc/a', content: 'a' }]]);
    await signPublished([{ ...published(signed.digest, 'gate'), tags: ['signed'] }], context());
    await pushTarImage(client, 'ns/gate', 'unsigned', [[{ name: 'etc/b', content: 'b' }]]);
    const policy = { sigstore: keys.sigstore!.publicKey, require: [] as Array<'sbom' | 'provenance'> };
    const problems = await checkSignatures(
      [
        { name: 'gate', reference: parseReference(`${registry.host}/ns/gate:signed`) },
        { name: 'gate-next', reference: parseReference(`${registry.host}/ns/gate:unsigned`) },
      ],
      policy,
      () => client,
    );
    expect(problems.map(formatDiagnostic)).toEqual([
      `error: image gate-next: ${registry.host}/ns/gate:unsigned: no sigstore signature made with the public key`,
    ]);
  });
});
