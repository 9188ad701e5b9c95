// What is installed in an image, as package lists: read from the package databases found in its
// layers (dpkg's status file, Python's *.dist-info/METADATA) or from the text a content-fingerprint
// command prints (`dpkg-query -W`, `pip freeze`, `rpm -qa`). Pure: text in, packages out.

export type PackageType = 'deb' | 'pypi' | 'rpm' | 'generic';

export interface InstalledPackage {
  type: PackageType;
  name: string;
  version: string;
  arch?: string;
}

/** Sorted and without duplicates, so the same content always gives the same SBOM bytes. */
export function normalizePackages(packages: InstalledPackage[]): InstalledPackage[] {
  const byKey = new Map<string, InstalledPackage>();
  for (const p of packages) byKey.set(packageKey(p), p);
  return [...byKey.values()].sort((a, b) => packageKey(a).localeCompare(packageKey(b)));
}

/** Type, name and architecture: what stays the same across an upgrade. */
export function packageKey(p: InstalledPackage): string {
  return `${p.type}/${p.name}${p.arch ? `:${p.arch}` : ''}`;
}

/** `/var/lib/dpkg/status` (or a `status.d/` file): the paragraphs of installed packages. */
export function parseDpkgStatus(text: string): InstalledPackage[] {
  const packages: InstalledPackage[] = [];
  for (const paragraph of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of paragraph.split('\n')) {
      const match = /^([A-Za-z][A-Za-z0-9-]*):\s*(.*)$/.exec(line);
      if (match) fields.set(match[1]!.toLowerCase(), match[2]!.trim());
    }
    const name = fields.get('package');
    const version = fields.get('version');
    const status = fields.get('status');
    // status.d files (distroless) have no Status field: every paragraph there is installed.
    if (!name || !version || (status !== undefined && !/\binstalled$/.test(status))) continue;
    const arch = fields.get('architecture');
    packages.push({ type: 'deb', name, version, ...(arch ? { arch } : {}) });
  }
  return packages;
}

/** A Python distribution's `METADATA` / `PKG-INFO` header. */
export function parsePythonMetadata(text: string): InstalledPackage | null {
  const header = text.split(/\r?\n\r?\n/)[0] ?? '';
  const name = /^Name:\s*(.+)$/m.exec(header)?.[1]?.trim();
  const version = /^Version:\s*(.+)$/m.exec(header)?.[1]?.trim();
  return name && version ? { type: 'pypi', name, version } : null;
}

const RPM_ARCH = /\.(x86_64|noarch|i[3-6]86|aarch64|ppc64le|s390x|armv7hl)$/;

/**
 * A content-fingerprint command's output, line by line: `name==version` (pip freeze),
 * `name-version-release.arch` (rpm -qa), `name<TAB>version` or `name version` (dpkg-query -W,
 * apk, most listings). Lines that look like none of them are left out.
 */
export function parsePackageListing(text: string): InstalledPackage[] {
  const packages: InstalledPackage[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const pip = /^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*===?\s*(\S+)$/.exec(line);
    if (pip) {
      packages.push({ type: 'pypi', name: pip[1]!, version: pip[2]! });
      continue;
    }
    const fields = line.split(/\s+/);
    if (fields.length === 1 && RPM_ARCH.test(line)) {
      const arch = RPM_ARCH.exec(line)![1]!;
      const parts = line.slice(0, -arch.length - 1).split('-');
      if (parts.length >= 3) {
        const release = parts.pop()!;
        const version = parts.pop()!;
        packages.push({ type: 'rpm', name: parts.join('-'), version: `${version}-${release}`, arch });
        continue;
      }
    }
    if (fields.length === 2) {
      const [name, version] = fields as [string, string];
      // dpkg-query -W names multi-arch packages `name:arch`.
      const [base, arch] = name.split(':');
      const looksDebian = /^[a-z0-9][a-z0-9+.-]+$/.test(base!) && /^[0-9]/.test(version);
      packages.push({
        type: looksDebian ? 'deb' : 'generic',
        name: base!,
        version,
        ...(arch ? { arch } : {}),
      });
    }
  }
  return packages;
}

/** The package URL (purl) of a package, for scanners. */
export function purl(p: InstalledPackage, distro: string): string {
  const name = encodeURIComponent(p.type === 'pypi' ? p.name.toLowerCase().replace(/[-_.]+/g, '-') : p.name);
  const version = encodeURIComponent(p.version);
  const arch = p.arch ? `?arch=${encodeURIComponent(p.arch)}` : '';
  switch (p.type) {
    case 'deb':
      return `pkg:deb/${distro}/${name}@${version}${arch}`;
    case 'rpm':
      return `pkg:rpm/${distro}/${name}@${version}${arch}`;
    case 'pypi':
      return `pkg:pypi/${name}@${version}`;
    default:
      return `pkg:generic/${name}@${version}`;
  }
}
