// The builder named by images.yaml (`builder:`) or `--builder`.
import type { BuilderConfig } from '../../config/model.js';
import { createBuildahBuilder } from './buildah.js';
import { createBuildxBuilder } from './buildx.js';
import { createDockerBuilder } from './docker.js';
import { createPodmanBuilder } from './podman.js';
import type { Builder } from './types.js';

export { BuildError, type BuildStep } from './errors.js';
export type * from './types.js';

export interface CreateBuilderOptions {
  /** The docker client for `docker` and `buildx` (default: ARBOR_DOCKER, /usr/bin/docker, docker). */
  dockerBinary?: string;
}

export function createBuilder(config: BuilderConfig, options: CreateBuilderOptions = {}): Builder {
  switch (config.name) {
    case 'docker':
      return createDockerBuilder({ binary: options.dockerBinary, buildkit: config.buildkit });
    case 'buildx':
      return createBuildxBuilder({ binary: options.dockerBinary, builder: config.buildxBuilder });
    case 'buildah':
      return createBuildahBuilder();
    case 'podman':
      return createPodmanBuilder();
  }
}
