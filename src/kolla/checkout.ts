// Where things are in a Kolla checkout. Kolla has had two layouts: the image directories at the
// root (`docker/`, older releases) and inside the package (`kolla/docker/`, newer ones). The
// Python package is `kolla/` in both. kolla-build recognizes the images directory by its `base`
// image; so does this.

import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { ArborError, error } from '../errors.js';

export interface KollaCheckout {
  /** The directory given (absolute). */
  root: string;
  /** The Python package directory (`…/kolla`). */
  packageDir: string;
  /** The images directory (`…/docker` or `…/kolla/docker`). */
  dockerDir: string;
  /** Which layout: `kolla/docker` or `docker`. */
  layout: 'kolla/docker' | 'docker';
}

/** Template file of every image, as kolla-build looks for it. */
export const IMAGE_TEMPLATE = 'Dockerfile.j2';

export function locateCheckout(dir: string): KollaCheckout {
  const root = path.resolve(dir);
  if (!existsSync(root))
    throw new ArborError([error(`${dir}: no such directory (expected a Kolla checkout)`)]);
  if (!statSync(root).isDirectory())
    throw new ArborError([error(`${dir}: a file, not a directory (expected a Kolla checkout)`)]);
  const candidates: Array<{ packageDir: string; dockerDir: string; layout: KollaCheckout['layout'] }> = [
    {
      packageDir: path.join(root, 'kolla'),
      dockerDir: path.join(root, 'kolla', 'docker'),
      layout: 'kolla/docker',
    },
    { packageDir: path.join(root, 'kolla'), dockerDir: path.join(root, 'docker'), layout: 'docker' },
    // The package directory itself was given.
    { packageDir: root, dockerDir: path.join(root, 'docker'), layout: 'kolla/docker' },
  ];
  for (const c of candidates)
    if (
      existsSync(path.join(c.dockerDir, 'base')) &&
      existsSync(path.join(c.packageDir, 'common', 'config.py'))
    )
      return { root, ...c };
  throw new ArborError([
    error(
      `${dir}: not a Kolla checkout (expected kolla/docker/base/ or docker/base/, and kolla/common/config.py)`,
    ),
  ]);
}

/**
 * Every file under the images directory, relative, sorted. Symbolic links are followed, as
 * kolla-build's copy of the directory (shutil.copytree) follows them: Kolla links one image's
 * files into another (`rabbitmq-4-1/Dockerfile.j2 -> ../rabbitmq/Dockerfile.j2`).
 */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel === '' ? e.name : `${rel}/${e.name}`;
      const kind = e.isSymbolicLink() ? statSync(path.join(dir, child), { throwIfNoEntry: false }) : e;
      if (kind?.isDirectory()) walk(child);
      else if (kind?.isFile()) out.push(child);
    }
  };
  walk('');
  return out.sort();
}

/** Every directory holding a Dockerfile.j2, relative to the images directory, sorted. */
export function findImageDirs(files: string[]): string[] {
  return files
    .filter((f) => path.posix.basename(f) === IMAGE_TEMPLATE)
    .map((f) => path.posix.dirname(f))
    .map((d) => (d === '.' ? '' : d))
    .sort();
}

/** The short commit kolla-build puts into `kolla_version` (pbr's git_info), or '' outside git. */
export function gitShortCommit(root: string): string {
  if (!existsSync(path.join(root, '.git'))) return '';
  try {
    return execFileSync('git', ['-C', root, 'log', '-n1', '--pretty=format:%h'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return '';
  }
}

/** pbr's version when PBR_VERSION is not set: the newest tag reachable from HEAD, else 0.0.0. */
export function packageVersion(root: string, env: NodeJS.ProcessEnv): string {
  if (env.PBR_VERSION) return env.PBR_VERSION;
  if (!existsSync(path.join(root, '.git'))) return '0.0.0';
  try {
    return execFileSync('git', ['-C', root, 'describe', '--tags', '--abbrev=0'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return '0.0.0';
  }
}
