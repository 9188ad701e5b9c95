// The signed formats, with plain values: containers' simple-signing payload and the identity rule
// skopeo applies, the lookaside layout, DSSE's pre-authentication encoding, sigstore bundles made
// and checked with a key, the layer stacking with whiteouts, and the standard OCI labels.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { metadataLabels } from '../../../src/config/signing.js';
import { parseReference } from '../../../src/registry/reference.js';
import { coversDigest, preAuthEncoding, statement } from '../../../src/sign/dsse.js';
import { applyLayers, isPackageDatabase, packagesOfFiles } from '../../../src/sign/layer-scan.js';
import { lookasideBase, signaturePath } from '../../../src/sign/lookaside.js';
import { publicKeyHint, signStatement } from '../../../src/sign/sigstore.js';
import { verifyBundle } from '../../../src/sign/sigstore-verify.js';
import {
  identityAccepts,
  parseSimpleSigningPayload,
  simpleSigningPayload,
} from '../../../src/sign/simple-signing.js';

const DIGEST = `sha256:${'b'.repeat(64)}`;

describe('simple signing', () => {
  it('writes the payload containers/image reads, and reads it back', () => {
    const bytes = simpleSigningPayload(
      { dockerReference: 'reg.example/ns/app:1.0', digest: DIGEST },
      { creator: 'arbor 0.1.0', timestamp: 1700000000 },
    );
    expect(JSON.parse(bytes.toString())).toEqual({
      critical: {
        identity: { 'docker-reference': 'reg.example/ns/app:1.0' },
        image: { 'docker-manifest-digest': DIGEST },
        type: 'atomic container signature',
      },
      optional: { creator: 'arbor 0.1.0', timestamp: 1700000000 },
    });
    expect(parseSimpleSigningPayload(bytes)).toEqual({
      dockerReference: 'reg.example/ns/app:1.0',
      digest: DIGEST,
    });
    expect(() => parseSimpleSigningPayload(Buffer.from('{"critical":{"type":"other"}}'))).toThrow(/type/);
  });

  it('accepts a tag only with its own signature, a digest with any of the repository', () => {
    const tagged = parseReference('reg.example/ns/app:1.0');
    expect(identityAccepts(tagged, 'reg.example/ns/app:1.0')).toBe(true);
    expect(identityAccepts(tagged, 'reg.example/ns/app:2.0')).toBe(false);
    expect(identityAccepts(tagged, 'reg.example/ns/other:1.0')).toBe(false);
    const byDigest = parseReference(`reg.example/ns/app@${DIGEST}`);
    expect(identityAccepts(byDigest, 'reg.example/ns/app:2.0')).toBe(true);
    expect(identityAccepts(byDigest, 'reg.example/ns/app')).toBe(true);
    expect(identityAccepts(byDigest, 'reg.example/ns/application:2.0')).toBe(false);
  });

  it('stores signatures in the registries.d lookaside layout', () => {
    expect(signaturePath('ns/app', DIGEST)).toBe(`ns/app@sha256=${'b'.repeat(64)}`);
    expect(lookasideBase('file:///srv/sigs')).toEqual({ kind: 'dir', dir: '/srv/sigs' });
    expect(lookasideBase('https://sigs.example/')).toEqual({ kind: 'http', url: 'https://sigs.example' });
  });
});

describe('sigstore bundles', () => {
  it('PAE is the DSSE v1 encoding', () => {
    expect(preAuthEncoding('application/vnd.in-toto+json', Buffer.from('{}')).toString()).toBe(
      'DSSEv1 28 application/vnd.in-toto+json 2 {}',
    );
  });

  it('a bundle verifies with its key and its digest only', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const s = statement([{ digest: { sha256: 'b'.repeat(64) } }], 'https://sigstore.dev/cosign/sign/v1', {});
    const bundle = signStatement(s, privateKey);
    expect(bundle.verificationMaterial.publicKey.hint).toBe(publicKeyHint(publicKey));
    expect(verifyBundle(bundle, publicKey, DIGEST)).toEqual(s);
    expect(coversDigest(s, `sha256:${'c'.repeat(64)}`)).toBe(false);
    expect(() => verifyBundle(bundle, publicKey, `sha256:${'c'.repeat(64)}`)).toThrow(/not about/);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    expect(() => verifyBundle(bundle, other, DIGEST)).toThrow(/does not verify/);
  });
});

describe('layer scan', () => {
  it('stacks layers with whiteouts and opaque directories', () => {
    const files = (entries: Record<string, string>) =>
      new Map(Object.entries(entries).map(([k, v]) => [k, Buffer.from(v)]));
    const merged = applyLayers([
      {
        files: files({
          'var/lib/dpkg/status': 'Package: a\nStatus: install ok installed\nVersion: 1\n',
          'usr/lib/py/x-1.dist-info/METADATA': 'Name: x\nVersion: 1\n',
          'opt/venv/y-1.dist-info/METADATA': 'Name: y\nVersion: 1\n',
        }),
        deleted: [],
        opaque: [],
      },
      { files: files({}), deleted: ['usr/lib/py/x-1.dist-info'], opaque: ['opt/venv'] },
      { files: files({ 'etc/os-release': 'ID=ubuntu\n' }), deleted: [], opaque: [] },
    ]);
    expect([...merged.keys()].sort()).toEqual(['etc/os-release', 'var/lib/dpkg/status']);
    expect(packagesOfFiles(merged)).toEqual({
      packages: [{ type: 'deb', name: 'a', version: '1' }],
      distro: 'ubuntu',
    });
    expect(isPackageDatabase('var/lib/dpkg/status.d/base')).toBe(true);
    expect(isPackageDatabase('var/lib/dpkg/statusx')).toBe(false);
  });
});

describe('OCI metadata labels', () => {
  it('top-level metadata, overridden per image', () => {
    expect(
      metadataLabels({ vendor: 'Example', licenses: 'MIT' }, { licenses: 'Apache-2.0', title: 'Keystone' }),
    ).toEqual({
      'org.opencontainers.image.vendor': 'Example',
      'org.opencontainers.image.licenses': 'Apache-2.0',
      'org.opencontainers.image.title': 'Keystone',
    });
  });
});
