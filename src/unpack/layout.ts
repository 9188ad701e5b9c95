// Where everything lives under the output directory. DUCC's conventions (cvmfs/ducc, the tool
// that fills unpacked.cern.ch) where it has them, so sites can switch without moving paths:
//
//   OUT/.layers/<hh>/<hex>/layerfs/        a layer's own files (its compressed digest, as DUCC)
//   OUT/.layers/<hh>/<hex>/.metadata/layer.json
//   OUT/.chains/<hh>/<hex>/                the root file system after layers 1..n (OCI ChainID)
//   OUT/.flat/<hh>/<hex>                   an image's root file system, by config digest
//                                          (a relative symlink to its last chain)
//   OUT/<registry>/<repository>:<tag>      → .flat/…  (relative symlink, as DUCC's public path)
//   OUT/<registry>/<repository>@<digest>   for a reference without tag
//   OUT/.metadata/<registry>/<repository>:<tag>/{manifest.json,image.json}  (image.json last)
//   OUT/.store/<hh>/<hex>                  the content store every regular file is a hard link to
//   OUT/.tmp/                              work in progress, renamed into place when whole
// <hh> is the first two hex digits of <hex>, which spreads directories as DUCC does.
import path from 'node:path';

export interface ImageName {
  /** `host[:port]` as the user wrote it (DUCC keeps the recipe's host too). */
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

function hexOf(digest: string): string {
  const colon = digest.indexOf(':');
  const hex = colon < 0 ? digest : digest.slice(colon + 1);
  if (!/^[0-9a-f]{32,}$/.test(hex)) throw new Error(`internal: not a digest: ${digest}`);
  return hex;
}

function sharded(root: string, dir: string, digest: string): string {
  const hex = hexOf(digest);
  return path.join(root, dir, hex.slice(0, 2), hex);
}

export class Layout {
  constructor(readonly root: string) {}

  layerDir(digest: string): string {
    return sharded(this.root, '.layers', digest);
  }

  layerFs(digest: string): string {
    return path.join(this.layerDir(digest), 'layerfs');
  }

  chainDir(chainId: string): string {
    return sharded(this.root, '.chains', chainId);
  }

  /** Extended attributes of the chain's directories (hard links share a file's, never a directory's). */
  chainDirXattrs(chainId: string): string {
    return `${this.chainDir(chainId)}.dir-xattrs.json`;
  }

  flat(configDigest: string): string {
    return sharded(this.root, '.flat', configDigest);
  }

  storeDir(): string {
    return path.join(this.root, '.store');
  }

  tmpDir(): string {
    return path.join(this.root, '.tmp');
  }

  /** `registry/repository:tag` (or `@digest` without a tag), relative to the root. */
  publicName(image: ImageName): string {
    const ref = image.tag !== undefined ? `:${image.tag}` : `@${image.digest}`;
    return `${image.registry}/${image.repository}${ref}`;
  }

  publicPath(image: ImageName): string {
    return path.join(this.root, ...this.publicName(image).split('/'));
  }

  metadataDir(image: ImageName): string {
    return path.join(this.root, '.metadata', ...this.publicName(image).split('/'));
  }
}

/** A symlink target from `from` (the link's own path) to `to`, relative, as DUCC writes them. */
export function relativeLink(from: string, to: string): string {
  return path.relative(path.dirname(from), to);
}
