// The engine's view of an image's root file system: `docker export` of a container created from
// it (never started), described as a Tree (fs-tree.ts).
import { execFileSync, spawn } from 'node:child_process';
import { DOCKER, docker } from './engine.js';
import { describeTar, type Tree } from './fs-tree.js';

export async function exportedTree(ref: string): Promise<Tree> {
  docker(['pull', '-q', ref]);
  const id = docker(['create', ref, 'unused']).trim();
  try {
    const child = spawn(DOCKER, ['export', id], { stdio: ['ignore', 'pipe', 'inherit'] });
    return await describeTar(child.stdout);
  } finally {
    execFileSync(DOCKER, ['rm', '-f', id], { stdio: 'ignore' });
  }
}
