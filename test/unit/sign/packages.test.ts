// Package lists from package databases and content-fingerprint output, the SBOM made of them
// (valid against the official SPDX 2.3 schema), and the diff of two SBOMs.
import { describe, expect, it } from 'vitest';
import { diffLines, diffPackages } from '../../../src/sign/package-diff.js';
import {
  parseDpkgStatus,
  parsePackageListing,
  parsePythonMetadata,
  purl,
} from '../../../src/sign/packages.js';
import { packagesOfSpdx, spdxDocument } from '../../../src/sign/sbom.js';
import { DPKG_STATUS } from '../../support/tar-image.js';
import { schemaErrors } from '../export/schemas.js';

describe('package databases', () => {
  it('reads installed packages from a dpkg status file, not removed ones', () => {
    expect(parseDpkgStatus(DPKG_STATUS)).toEqual([
      { type: 'deb', name: 'libc6', version: '2.36-9+deb12u7', arch: 'amd64' },
      { type: 'deb', name: 'openssl', version: '3.0.15-1~deb12u1', arch: 'amd64' },
    ]);
    // distroless status.d files have no Status field.
    expect(parseDpkgStatus('Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n')).toHaveLength(1);
  });

  it('reads a Python distribution header, ignoring the description body', () => {
    expect(
      parsePythonMetadata('Metadata-Version: 2.1\nName: Jinja2\nVersion: 3.1.4\n\nName: not-this\n'),
    ).toEqual({
      type: 'pypi',
      name: 'Jinja2',
      version: '3.1.4',
    });
    expect(parsePythonMetadata('Summary: nothing\n')).toBeNull();
  });

  it('reads dpkg-query -W, pip freeze and rpm -qa output', () => {
    expect(
      parsePackageListing(
        [
          'libssl3:amd64\t3.0.15-1',
          'requests==2.32.3',
          'oslo.config[extra] == 9.4.0',
          'openssl-libs-3.0.7-27.el9.x86_64',
          '# comment',
          '',
          'python-foo 1.0',
          'one-word-line',
        ].join('\n'),
      ),
    ).toEqual([
      { type: 'deb', name: 'libssl3', version: '3.0.15-1', arch: 'amd64' },
      { type: 'pypi', name: 'requests', version: '2.32.3' },
      { type: 'pypi', name: 'oslo.config', version: '9.4.0' },
      { type: 'rpm', name: 'openssl-libs', version: '3.0.7-27.el9', arch: 'x86_64' },
      { type: 'deb', name: 'python-foo', version: '1.0' },
    ]);
  });

  it('gives package URLs scanners understand', () => {
    expect(purl({ type: 'deb', name: 'libc6', version: '2.36-9+deb12u7', arch: 'amd64' }, 'debian')).toBe(
      'pkg:deb/debian/libc6@2.36-9%2Bdeb12u7?arch=amd64',
    );
    expect(purl({ type: 'pypi', name: 'Oslo_Config', version: '9.4.0' }, 'debian')).toBe(
      'pkg:pypi/oslo-config@9.4.0',
    );
  });
});

describe('SPDX SBOM', () => {
  const subject = {
    repository: 'registry.example/ns/app',
    digest: `sha256:${'a'.repeat(64)}`,
    created: '2026-01-02T03:04:05Z',
    source: 'test',
  };

  it('is valid SPDX 2.3, deterministic, and reads back its packages', () => {
    const packages = [
      { type: 'pypi' as const, name: 'requests', version: '2.32.3' },
      ...parseDpkgStatus(DPKG_STATUS),
      { type: 'pypi' as const, name: 'requests', version: '2.32.3' },
    ];
    const document = spdxDocument(subject, packages);
    expect(schemaErrors('spdx', document)).toEqual([]);
    expect(JSON.stringify(spdxDocument(subject, [...packages].reverse()))).toBe(JSON.stringify(document));
    expect(packagesOfSpdx(document)).toEqual([
      { type: 'deb', name: 'libc6', version: '2.36-9+deb12u7', arch: 'amd64' },
      { type: 'deb', name: 'openssl', version: '3.0.15-1~deb12u1', arch: 'amd64' },
      { type: 'pypi', name: 'requests', version: '2.32.3' },
    ]);
    expect(schemaErrors('spdx', spdxDocument(subject, []))).toEqual([]);
  });

  it('the schema check is not vacuous', () => {
    const document = spdxDocument(subject, []) as Record<string, unknown>;
    delete document.creationInfo;
    expect(schemaErrors('spdx', document)).not.toEqual([]);
  });
});

describe('package diff', () => {
  it('lists added, removed and changed packages; the same lists give nothing', () => {
    const before = parsePackageListing('libssl3\t3.0.15-1\nzlib1g\t1:1.2.13\npython3-nova\t31.0.0-1\n');
    const after = parsePackageListing(
      'libssl3\t3.0.16-1\nca-certificates\t20230311\npython3-nova\t31.0.0-1\n',
    );
    const diff = diffPackages(before, after);
    expect(diffLines(diff)).toEqual([
      '+ ca-certificates 20230311',
      '- zlib1g 1:1.2.13',
      '~ libssl3 3.0.15-1 → 3.0.16-1',
    ]);
    expect(diffLines(diffPackages(after, after))).toEqual([]);
    // The same name in two ecosystems or architectures is two packages.
    expect(
      diffLines(
        diffPackages(
          [{ type: 'deb', name: 'six', version: '1', arch: 'amd64' }],
          [
            { type: 'deb', name: 'six', version: '1', arch: 'amd64' },
            { type: 'pypi', name: 'six', version: '1' },
          ],
        ),
      ),
    ).toEqual(['+ six 1']);
  });
});
