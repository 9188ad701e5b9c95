// What a builder hands over after a build: the image config exactly as the builder wrote it and
// every layer as an uncompressed tar (or, for a layer arbor already knows, only its diffID).
// arbor compresses, names and uploads the layers itself (publish.ts): builders only build.
import type { Platform } from '../../registry/manifest-model.js';

export interface ExportedLayer {
  /** `sha256:…` of the uncompressed tar (the config's `rootfs.diff_ids` entry). */
  diffId: string;
  /** Uncompressed size in bytes. */
  size: number;
  /** The tar on local disk; absent when the export skipped a layer the caller said it knows. */
  file?: string;
}

export interface ExportedImage {
  /** The config blob's bytes, unchanged (its digest is the image id). */
  config: Buffer;
  layers: ExportedLayer[];
  /** Set for one platform of a multi-platform build. */
  platform?: Platform;
}

export interface ExportOptions {
  logFile: string;
  signal?: AbortSignal;
  /** A directory for the layer files (removed by the caller). */
  workDir: string;
  /**
   * Layers the caller can already publish (compressed in this run): by uncompressed size, the
   * diffIDs it knows. A layer of such a size is only hashed while it streams past, not written to
   * disk; if its hash turns out not to be known after all, the export is repeated without this.
   */
  known?: ReadonlyMap<number, ReadonlySet<string>>;
}
