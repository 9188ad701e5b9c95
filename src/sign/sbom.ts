// The SBOM arbor attaches to an image: an SPDX 2.3 JSON document listing the image (the package
// the document describes) and every package found in it. Deterministic for the same image and
// packages (the creation time is the image's own), so attaching it again changes nothing.
import { VERSION } from '../package-info.js';
import { type InstalledPackage, normalizePackages, purl } from './packages.js';

export const SPDX_MEDIA_TYPE = 'application/spdx+json';
export const SPDX_PREDICATE = 'https://spdx.dev/Document';

export interface SbomSubject {
  /** `host/namespace/name` */
  repository: string;
  digest: string;
  /** RFC 3339; the image's creation time. */
  created: string;
  /** Where the package list came from, for the document's comment. */
  source: string;
  /** `debian`, `ubuntu`, … from /etc/os-release, for package URLs. */
  distro?: string;
}

interface SpdxPackage {
  SPDXID: string;
  name: string;
  versionInfo: string;
  downloadLocation: 'NOASSERTION';
  filesAnalyzed: false;
  primaryPackagePurpose?: string;
  externalRefs?: Array<{ referenceCategory: string; referenceType: string; referenceLocator: string }>;
  checksums?: Array<{ algorithm: string; checksumValue: string }>;
}

export function spdxDocument(subject: SbomSubject, packages: InstalledPackage[]) {
  const hex = subject.digest.split(':')[1]!;
  const image: SpdxPackage = {
    SPDXID: 'SPDXRef-Image',
    name: subject.repository,
    versionInfo: subject.digest,
    downloadLocation: 'NOASSERTION',
    filesAnalyzed: false,
    primaryPackagePurpose: 'CONTAINER',
    checksums: [{ algorithm: 'SHA256', checksumValue: hex }],
    externalRefs: [
      {
        referenceCategory: 'PACKAGE-MANAGER',
        referenceType: 'purl',
        referenceLocator: `pkg:oci/${encodeURIComponent(subject.repository.split('/').at(-1)!)}@${encodeURIComponent(subject.digest)}?repository_url=${encodeURIComponent(subject.repository)}`,
      },
    ],
  };
  const listed = normalizePackages(packages).map(
    (p, i): SpdxPackage => ({
      SPDXID: `SPDXRef-Package-${p.type}-${i + 1}`,
      name: p.name,
      versionInfo: p.version,
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      externalRefs: [
        {
          referenceCategory: 'PACKAGE-MANAGER',
          referenceType: 'purl',
          referenceLocator: purl(p, subject.distro ?? 'debian'),
        },
      ],
    }),
  );
  return {
    spdxVersion: 'SPDX-2.3',
    dataLicense: 'CC0-1.0',
    SPDXID: 'SPDXRef-DOCUMENT',
    name: `${subject.repository}@${subject.digest}`,
    documentNamespace: `https://spdx.org/spdxdocs/arbor/${subject.repository}/${hex}`,
    creationInfo: { created: subject.created, creators: [`Tool: arbor-${VERSION}`], comment: subject.source },
    packages: [image, ...listed],
    relationships: [
      {
        spdxElementId: 'SPDXRef-DOCUMENT',
        relationshipType: 'DESCRIBES',
        relatedSpdxElement: 'SPDXRef-Image',
      },
      ...listed.map((p) => ({
        spdxElementId: 'SPDXRef-Image',
        relationshipType: 'CONTAINS',
        relatedSpdxElement: p.SPDXID,
      })),
    ],
  };
}

export type SpdxDocument = ReturnType<typeof spdxDocument>;

/** The packages an SPDX document (arbor's, or another tool's) lists, without the image itself. */
export function packagesOfSpdx(document: unknown): InstalledPackage[] {
  const packages = (document as { packages?: unknown[] })?.packages;
  if (!Array.isArray(packages)) throw new Error('not an SPDX document (no packages)');
  const result: InstalledPackage[] = [];
  for (const entry of packages as Array<Record<string, unknown>>) {
    if (entry.primaryPackagePurpose === 'CONTAINER' || typeof entry.name !== 'string') continue;
    const refs = Array.isArray(entry.externalRefs)
      ? (entry.externalRefs as Array<Record<string, string>>)
      : [];
    const locator = refs.find((r) => r.referenceType === 'purl')?.referenceLocator ?? '';
    const type = (/^pkg:([a-z]+)\//.exec(locator)?.[1] ?? 'generic') as InstalledPackage['type'];
    const arch = /[?&]arch=([^&]+)/.exec(locator)?.[1];
    result.push({
      type: ['deb', 'pypi', 'rpm'].includes(type) ? type : 'generic',
      name: entry.name,
      version: typeof entry.versionInfo === 'string' ? entry.versionInfo : '',
      ...(arch ? { arch: decodeURIComponent(arch) } : {}),
    });
  }
  return result;
}
