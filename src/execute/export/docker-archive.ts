// `docker save` output → ExportedImage: `manifest.json` names the config and the layers in order;
// each layer's hash must equal the config's `rootfs.diff_ids` entry (checked, not assumed).
import { readFile } from 'node:fs/promises';
import { type ArchiveContents, resolveEntry } from './image-tar.js';
import type { ExportedImage } from './model.js';

export class ArchiveError extends Error {
  constructor(
    message: string,
    /** The archive lacked the bytes of a layer it only hashed: export again without skipping. */
    readonly missingData = false,
  ) {
    super(message);
    this.name = 'ArchiveError';
  }
}

interface DockerManifestEntry {
  Config: string;
  Layers: string[];
  RepoTags?: string[] | null;
}

async function bytesOf(contents: ArchiveContents, linked: string): Promise<Buffer | undefined> {
  const name = resolveEntry(contents, linked);
  const small = contents.small.get(name);
  if (small) return small;
  const spooled = contents.spooled.get(name);
  return spooled?.file ? readFile(spooled.file) : undefined;
}

/** The image of a `docker save` archive that holds exactly one image. */
export async function imageFromDockerArchive(
  contents: ArchiveContents,
  what: string,
): Promise<ExportedImage> {
  const manifestBytes = contents.small.get('manifest.json');
  if (!manifestBytes) throw new ArchiveError(`${what}: the archive has no manifest.json`);
  let entries: DockerManifestEntry[];
  try {
    entries = JSON.parse(manifestBytes.toString('utf8')) as DockerManifestEntry[];
  } catch (e) {
    throw new ArchiveError(`${what}: manifest.json is not JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(entries) || entries.length !== 1)
    throw new ArchiveError(
      `${what}: expected one image in the archive, found ${Array.isArray(entries) ? entries.length : 0}`,
    );
  const entry = entries[0]!;
  const config = await bytesOf(contents, entry.Config);
  if (!config) throw new ArchiveError(`${what}: the archive lacks the config ${entry.Config}`);
  let diffIds: string[];
  try {
    diffIds =
      (JSON.parse(config.toString('utf8')) as { rootfs?: { diff_ids?: string[] } }).rootfs?.diff_ids ?? [];
  } catch (e) {
    throw new ArchiveError(`${what}: the image config is not JSON (${(e as Error).message})`);
  }
  if (diffIds.length !== entry.Layers.length)
    throw new ArchiveError(
      `${what}: ${entry.Layers.length} layers in manifest.json, ${diffIds.length} in the config`,
    );
  const layers = entry.Layers.map((name, i) => {
    const spooled = contents.spooled.get(resolveEntry(contents, name));
    if (!spooled) throw new ArchiveError(`${what}: the archive lacks the layer ${name}`);
    if (spooled.digest !== diffIds[i])
      throw new ArchiveError(
        `${what}: layer ${name} hashes to ${spooled.digest}, the config says ${diffIds[i]}`,
        !spooled.file && !spooled.compressed,
      );
    return {
      diffId: spooled.digest,
      size: spooled.size,
      ...(spooled.file ? { file: spooled.file } : {}),
      ...(spooled.compressed ? { compressed: spooled.compressed } : {}),
    };
  });
  return { config, layers };
}
