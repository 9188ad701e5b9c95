// `signing:` and `metadata:` in images.yaml: the model with defaults, every mistake located.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readConfig } from '../../../src/config/load.js';
import { formatDiagnostic } from '../../../src/errors.js';
import { SUPPORT_FILES, writeTree, yaml } from './tree.js';

const HEAD = ['version: 1', 'registry:', '  url: 127.0.0.1:5000', 'images:', '  base:', '    from: scratch'];

async function read(lines: string[], files: Record<string, string> = {}) {
  const dir = await writeTree({ ...SUPPORT_FILES, ...files, 'images.yaml': yaml(...lines) });
  return readConfig(path.join(dir, 'images.yaml'), { cwd: dir });
}

describe('signing and metadata in images.yaml', () => {
  it('builds the model with defaults, metadata as labels (own labels win)', async () => {
    const { config, diagnostics } = await read(
      [
        ...HEAD,
        '    metadata: { title: Base image }',
        '    labels: { org.opencontainers.image.licenses: MIT }',
        'metadata: { vendor: Example, licenses: Apache-2.0 }',
        'signing:',
        '  gpg: { key: 0123456789abcdef0123456789abcdef01234567, lookaside: sigs, passphrase_env: GPG_PASS }',
        '  sigstore: { key: keys/cosign.key }',
        '  provenance: false',
      ],
      { 'keys/cosign.key': 'x' },
    );
    expect(diagnostics).toEqual([]);
    expect(config!.signing).toEqual({
      gpg: { key: '0123456789ABCDEF0123456789ABCDEF01234567', lookaside: 'sigs', passphraseEnv: 'GPG_PASS' },
      sigstore: { key: 'keys/cosign.key' },
      sbom: true,
      provenance: false,
    });
    expect(config!.images[0]!.labels).toEqual({
      'org.opencontainers.image.vendor': 'Example',
      'org.opencontainers.image.licenses': 'MIT',
      'org.opencontainers.image.title': 'Base image',
    });
  });

  it('reports each mistake at its place', async () => {
    const { diagnostics } = await read([
      ...HEAD,
      'signing:',
      '  gpg: { key: ABC, lookaside: sigs, passphrase_env: A, passphrase_file: f }',
      '  sigstore: { key: keys/missing.key }',
      '  sbom: yes',
      'metadata: { vendr: x }',
    ]);
    const lines = diagnostics.map(formatDiagnostic);
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /images\.yaml:8:3: error: .*"passphrase_env" and "passphrase_file" are exclusive/,
        ),
        expect.stringMatching(/images\.yaml:8:15: error: .*a key fingerprint is 40 hex digits/),
        expect.stringMatching(/images\.yaml:9:20: error: .*key .*keys\/missing\.key/),
        expect.stringMatching(/images\.yaml:10:9: error: signing\.sbom must be true or false/),
        expect.stringMatching(/images\.yaml:11:13: error: .*vendr/),
      ]),
    );
  });

  it('a promote target that signs needs signing.gpg; its lookaside is resolved against the file', async () => {
    const target = [
      'promote:',
      '  - name: site',
      '    registry: { url: site.example }',
      '    sign: { lookaside: site-sigs }',
    ];
    const unsigned = await read([...HEAD, ...target]);
    expect(unsigned.diagnostics.map(formatDiagnostic)).toEqual([
      expect.stringMatching(
        /images\.yaml:10:5: error: promote target "site" signs its tags, but images\.yaml has no signing\.gpg key/,
      ),
    ]);
    const signed = await read([
      ...HEAD,
      'signing:',
      '  gpg: { key: 0123456789abcdef0123456789abcdef01234567, lookaside: sigs }',
      ...target,
    ]);
    expect(signed.diagnostics).toEqual([]);
    expect(signed.config!.promote[0]!.sign).toEqual({
      lookaside: path.join(path.dirname(signed.config!.file), 'site-sigs'),
    });
  });
});
