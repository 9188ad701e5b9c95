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
  /**
   * The layer already compressed as arbor publishes it (layers/gzip.ts), when the export did so
   * while the tar streamed past (ExportOptions.compressInto): then there is no `file`.
   */
  compressed?: CompressedLayerFile;
}

export interface CompressedLayerFile {
  file: string;
  /** `sha256:…` and size of the gzip blob. */
  digest: string;
  size: number;
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
  /**
   * Compress new layers while they stream past, into this directory (kept by the caller for the
   * whole run), instead of writing their tars to `workDir`: one write of the smaller file instead
   * of a write, a read and a write. Exporters that cannot tell layers apart as they stream ignore it.
   */
  compressInto?: string;
}
