// The repositories as they will be once tags have moved: what a promotion's plan evaluates its
// target's retention rules against, so that the deletions it shows are those the apply makes
// after its flip (an old digest that loses its last tag there becomes untagged). Pure.
import type { Artifact, RepositoryHistory } from './model.js';

export interface TagMove {
  repository: string;
  tag: string;
  /** The manifest the tag will name. */
  digest: string;
}

/**
 * `histories` with each moved tag taken off the artifact that holds it now and put on the one it
 * will name; a manifest the repository does not hold yet (a copy) appears as a new artifact,
 * created `now`, its storage unknown (it frees nothing and keeps nothing else's bytes).
 */
export function withTagMoves(
  histories: readonly RepositoryHistory[],
  moves: readonly TagMove[],
  now: number,
): RepositoryHistory[] {
  const byRepository = new Map<string, TagMove[]>();
  for (const move of moves)
    byRepository.set(move.repository, [...(byRepository.get(move.repository) ?? []), move]);
  return histories.map((history) => {
    const here = byRepository.get(history.repository);
    if (!here) return history;
    const moved = new Set(here.map((m) => m.tag));
    const artifacts: Artifact[] = history.artifacts.map((a) => ({
      ...a,
      tags: a.tags.filter((t) => !moved.has(t)),
    }));
    for (const move of here) {
      let artifact = artifacts.find((a) => a.digest === move.digest);
      if (!artifact) {
        artifact = { digest: move.digest, tags: [], created: now, mediaType: '', children: [], blobs: [] };
        artifacts.push(artifact);
      }
      artifact.tags = [...artifact.tags, move.tag].sort();
    }
    return { ...history, artifacts };
  });
}
