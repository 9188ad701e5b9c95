// Which images kolla-build leaves out for a build: its UNBUILDABLE_IMAGES
// (kolla/image/unbuildable.py) maps keys such as `rocky`, `aarch64`, `ubuntu+aarch64` or
// `rocky+10` to image names. Which keys apply is kolla-build's filter_images test (`tag_re`),
// which the import runs from the checkout (defaults.ts); without one, a key applies when every
// `+`-separated part is the base or the architecture. An image listed under an applying key is
// left out, and so is every image built on it (`--enable-unbuildable` turns it off).

export type UnbuildableTable = Record<string, string[]>;

/** The rule of kolla-build releases whose keys name only the base and the architecture. */
export function matchesBaseAndArch(key: string, base: string, arch: string): boolean {
  return key.split('+').every((p) => p === base || p === arch);
}

/** Image names listed under the keys that apply. */
export function unbuildableFor(table: UnbuildableTable, applies: (key: string) => boolean): Set<string> {
  const out = new Set<string>();
  for (const [key, images] of Object.entries(table))
    if (applies(key)) for (const image of images) out.add(image);
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
