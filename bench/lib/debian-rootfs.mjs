// Two real Debian rootfs layers, a base image and its security update: `mmdebstrap
// --variant=minbase --format=tar bookworm` from `bookworm` alone, and from bookworm +
// bookworm-updates + bookworm-security. Built once and kept under the cache directory (default
// /var/cache/arbor-bench), so reruns compare the same bytes; `--rebuild` makes them again. The
// packages that differ are read from each tar's dpkg status.
//
//   const pair = await debianRootfsPair({ cacheDir });   // { old, new, changedPackages, built }
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';

const MIRROR = 'http://deb.debian.org/debian';
const SECURITY = 'http://deb.debian.org/debian-security';

const SOURCES = {
  old: [`deb ${MIRROR} bookworm main`],
  new: [
    `deb ${MIRROR} bookworm main`,
    `deb ${MIRROR} bookworm-updates main`,
    `deb ${SECURITY} bookworm-security main`,
  ],
};
const FILES = { old: 'bookworm-minbase.tar', new: 'bookworm-minbase-updates-security.tar' };

async function exists(path) {
  try {
    return (await stat(path)).size > 0;
  } catch {
    return false;
  }
}

async function mmdebstrap(out, sources) {
  if (spawnSync('mmdebstrap', ['--version']).status !== 0)
    throw new Error('mmdebstrap is missing: apt-get install mmdebstrap (only this benchmark needs it)');
  const partial = `${out}.partial`;
  const child = spawn(
    'mmdebstrap',
    ['--variant=minbase', '--format=tar', '--quiet', 'bookworm', partial, ...sources],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`mmdebstrap exited with ${code}`);
  await rename(partial, out);
}

/** `package version` lines of a rootfs tar's dpkg status. */
function packages(tar) {
  const status = spawnSync('tar', ['-xOf', tar, './var/lib/dpkg/status'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const versions = new Map();
  let name;
  for (const line of status.stdout.split('\n')) {
    if (line.startsWith('Package: ')) name = line.slice(9);
    else if (line.startsWith('Version: ')) versions.set(name, line.slice(9));
  }
  return versions;
}

export async function debianRootfsPair({ cacheDir = '/var/cache/arbor-bench', rebuild = false } = {}) {
  await mkdir(cacheDir, { recursive: true });
  const paths = { old: join(cacheDir, FILES.old), new: join(cacheDir, FILES.new) };
  const built = [];
  for (const side of ['old', 'new']) {
    if (!rebuild && (await exists(paths[side]))) continue;
    const started = performance.now();
    await mmdebstrap(paths[side], SOURCES[side]);
    built.push({ side, seconds: (performance.now() - started) / 1000 });
  }
  const before = packages(paths.old);
  const after = packages(paths.new);
  const changedPackages = [...after]
    .filter(([name, version]) => before.get(name) !== version)
    .map(([name, version]) => `${name} ${before.get(name) ?? '-'} → ${version}`);
  return {
    old: paths.old,
    new: paths.new,
    oldBytes: (await stat(paths.old)).size,
    newBytes: (await stat(paths.new)).size,
    packages: after.size,
    changedPackages,
    built,
  };
}
