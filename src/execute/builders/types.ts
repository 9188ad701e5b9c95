// The one interface apply talks to, whatever builds the images: docker (classic or BuildKit),
// buildah, podman or buildx. Every implementation runs its tool through execa, writes the whole
// output to the request's log file, and throws BuildError (errors.ts) on failure. Builders only
// build: `export` hands the built image (config and uncompressed layers) to arbor, which
// compresses and uploads it through its own registry client (execute/publish.ts).
import type { BuilderName } from '../../config/model.js';
import type { ExportedImage, ExportOptions } from '../export/model.js';

export type { BuilderName };

export interface BuildRequest {
  /** The image's name in images.yaml: the location of any error. */
  image: string;
  /** Absolute build context directory; null builds with an empty context. */
  contextDir: string | null;
  /** The rendered Dockerfile text (written to a temp file and passed with `-f`). */
  dockerfile: string;
  /** Full references to tag locally, e.g. `127.0.0.1:5000/openstack/keystone:fp-…`. */
  tags: string[];
  buildArgs: Record<string, string>;
  labels: Record<string, string>;
  /** For RUN steps: `none`, `host`, or `default` (the tool's own default, no flag). */
  network: string;
  /** Empty: the builder's default platform. Only buildx builds more than one. */
  platforms: string[];
  /** Appended to; the directory is created when missing. */
  logFile: string;
  /** Aborting terminates the build (SIGTERM, then SIGKILL after a grace period). */
  signal?: AbortSignal;
  /**
   * Added to the brief's interface: the registry a missing parent is pulled from is plain HTTP
   * (buildah and podman need `--tls-verify=false` for it; docker decides by its daemon config).
   */
  insecure?: boolean;
  /**
   * Added for `apply --refresh`: build every step again instead of reusing the layer cache, so
   * a rebuild picks up what changed outside the inputs (distro security fixes).
   */
  noCache?: boolean;
}

export interface BuildResult {
  /** `sha256:…` of the image config (what `docker inspect .Id` shows). */
  imageId: string;
}

export type { ExportedImage, ExportOptions };

export interface RunOptions {
  logFile: string;
  signal?: AbortSignal;
}

export interface Builder {
  readonly name: BuilderName;
  build(req: BuildRequest): Promise<BuildResult>;
  /**
   * The built image of a local reference: its config and every layer as a tar (one image, or one
   * per platform of a multi-platform build).
   */
  export(ref: string, opts: ExportOptions): Promise<ExportedImage[]>;
  /** For content fingerprints: `sh -c command` inside the image, without network; returns stdout. */
  runCommand(ref: string, command: string, opts: RunOptions): Promise<string>;
  /** Deletes local images (a missing one is not an error). */
  remove?(refs: string[]): Promise<void>;
}
