// Which images kolla-build leaves out for a base distro and architecture: its UNBUILDABLE_IMAGES
// (kolla/image/unbuildable.py) maps keys such as `rocky`, `aarch64` or `ubuntu+aarch64` to image
// names. A key applies when every `+`-separated part is the base or the architecture; an image
// listed under an applying key is left out, and so is every image built on it. (kolla-build's
// filter_images; `--enable-unbuildable` / enable_unbuildable turns it off.)

export type UnbuildableTable = Record<string, string[]>;

/** Image names listed as unbuildable for this base and architecture. */
export function unbuildableFor(table: UnbuildableTable, base: string, arch: string): Set<string> {
  const out = new Set<string>();
  for (const [key, images] of Object.entries(table)) {
    const parts = key.split('+');
    if (parts.every((p) => p === base || p === arch)) for (const image of images) out.add(image);
  }
  return out;
}

/** The images left out: the listed ones and every descendant. `parentOf` gives each image's parent in the tree. */
export function withDescendants(
  listed: Set<string>,
  parentOf: (image: string) => string | undefined,
  images: string[],
): Set<string> {
  const out = new Set<string>();
  for (const image of images) {
    for (let at: string | undefined = image; at !== undefined; at = parentOf(at)) {
      if (listed.has(at)) {
        out.add(image);
        break;
      }
    }
  }
  return out;
}
