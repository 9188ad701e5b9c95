// The inputs an image declares besides its context: `inputs.files` (globs over the repository)
// and `inputs.env` (environment variables). Both become fingerprint inputs.
import type { BigIntStats } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { glob } from 'tinyglobby';
import type { Config, ImageConfig } from '../config/model.js';
import { type Diagnostic, error } from '../errors.js';
import { compareBytes, hashFields } from './canonical.js';
import { describeFsError } from './context.js';
import type { FingerprintInput } from './model.js';
import { isWithin } from './symlink.js';

export interface InputFile {
  /** Path relative to the config root, POSIX: the input's name. */
  name: string;
  /** Real path of the content (symlinks resolved): the file that is hashed. */
  realPath: string;
  stat: BigIntStats;
}

/**
 * Expands every `inputs.files` glob relative to the config root (dotfiles included; a directory
 * stands for everything below it). A glob matching nothing, a match outside the repository, or a
 * symlink leading out of it is a diagnostic located at the glob.
 */
export async function expandInputFiles(
  config: Config,
  image: ImageConfig,
  rootReal: string,
): Promise<{ files: InputFile[]; problems: Diagnostic[] }> {
  // Per glob, so problems come out in the order the globs are written.
  const problemsPerGlob: Diagnostic[][] = image.inputs.files.map(() => []);
  const byName = new Map<string, InputFile>();
  await Promise.all(
    image.inputs.files.map(async (pattern, index) => {
      const problems = problemsPerGlob[index]!;
      const at = { image: image.name, loc: config.locate(['images', image.name, 'inputs', 'files', index]) };
      const matches = await glob(pattern, {
        cwd: config.root,
        dot: true,
        absolute: true,
        onlyFiles: true,
        // arbor's own cache changes on every run; it can never be an input.
        ignore: ['.arbor/**'],
      });
      if (matches.length === 0) {
        problems.push(error(`inputs.files pattern "${pattern}" matches no file`, at));
        return;
      }
      for (const match of matches.sort(compareBytes)) {
        const abs = path.resolve(match);
        const name = path.relative(config.root, abs).split(path.sep).join('/');
        if (!isWithin(path.resolve(config.root), abs)) {
          problems.push(error(`input ${name} (from "${pattern}") is outside the repository root`, at));
          continue;
        }
        try {
          const real = await realpath(abs);
          if (!isWithin(rootReal, real)) {
            problems.push(
              error(`input ${name} is a symlink leading out of the repository root (to ${real})`, at),
            );
            continue;
          }
          byName.set(name, { name, realPath: real, stat: await stat(real, { bigint: true }) });
        } catch (e) {
          problems.push(error(`input ${name} ${describeFsError(e)}`, at));
        }
      }
    }),
  );
  const files = [...byName.values()].sort((a, b) => compareBytes(a.name, b.name));
  return { files, problems: problemsPerGlob.flat() };
}

/** One input per listed variable; an unset variable hashes differently from an empty one. */
export function envInputs(image: ImageConfig, env: NodeJS.ProcessEnv): FingerprintInput[] {
  return [...new Set(image.inputs.env)].map((name) => {
    const value = env[name];
    return {
      kind: 'env',
      name,
      hash: value === undefined ? hashFields(['unset']) : hashFields(['set', value]),
    };
  });
}
