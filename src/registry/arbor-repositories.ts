// Repositories arbor writes for itself beside the images of a namespace. An image of the tree
// must not be named like one of them: its tags and arbor's own would overwrite each other.

/** The repository, beside the ones retention deletes in, holding its scope markers (deletion-guard.ts). */
export const SCOPE_MARKER_REPOSITORY = 'arbor-deleting';
