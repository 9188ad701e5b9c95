// A build's scratch space: the rendered Dockerfile as a file (every tool wants `-f PATH`), an
// empty directory for images without a context, and files the tool writes back (image id,
// digest, metadata). Removed after the build whatever happened.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Workspace {
  dockerfile: string;
  context: string;
  /** Where the tool writes the built image's id (`--iidfile`). */
  iidFile: string;
  /** A path inside the workspace for another output file. */
  file(name: string): string;
  /** Trimmed content of an output file, or undefined when the tool did not write it. */
  read(path: string): Promise<string | undefined>;
  dispose(): Promise<void>;
}

export async function createWorkspace(dockerfile: string, contextDir: string | null): Promise<Workspace> {
  const dir = await mkdtemp(join(tmpdir(), 'arbor-build-'));
  const dockerfilePath = join(dir, 'Dockerfile');
  await writeFile(dockerfilePath, dockerfile);
  let context = contextDir;
  if (context === null) {
    context = join(dir, 'empty-context');
    await mkdir(context);
  }
  return {
    dockerfile: dockerfilePath,
    context,
    iidFile: join(dir, 'iid'),
    file: (name) => join(dir, name),
    read: async (path) => {
      try {
        return (await readFile(path, 'utf8')).trim();
      } catch {
        return undefined;
      }
    },
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Runs `fn` in a fresh workspace and always removes it. */
export async function withWorkspace<T>(
  dockerfile: string,
  contextDir: string | null,
  fn: (ws: Workspace) => Promise<T>,
): Promise<T> {
  const ws = await createWorkspace(dockerfile, contextDir);
  try {
    return await fn(ws);
  } finally {
    await ws.dispose();
  }
}
