// One comment per target, kept up to date: find the comment that carries the target's hidden
// marker (paging through all of them), edit it in place, or create it. GitHub and GitLab differ
// only in the calls, which they pass in.

export interface PostedComment {
  id: number;
  body: string;
  /** Link to the comment, when the API returns one. */
  url?: string;
}

export interface CommentThread {
  /** Pages of existing comments, oldest first. */
  pages(): AsyncIterable<PostedComment[]>;
  create(body: string): Promise<PostedComment>;
  update(id: number, body: string): Promise<PostedComment>;
}

export interface UpsertResult {
  action: 'created' | 'updated';
  comment: PostedComment;
  /** The body that was accepted (a shorter rendering when the first was refused as too long). */
  body: string;
}

/** When the API refuses a body as too long: which errors mean that, and a shorter body to try once. */
export interface Shrink {
  isTooLong(error: unknown): boolean;
  smaller(): string;
  /** The error to throw when the shorter body is refused too. */
  giveUp(error: unknown, body: string): Error;
}

/** The first comment containing `marker`, or null after reading every page. */
export async function findComment(thread: CommentThread, marker: string): Promise<PostedComment | null> {
  for await (const page of thread.pages()) {
    const found = page.find((c) => c.body.includes(marker));
    if (found) return found;
  }
  return null;
}

export async function upsertComment(
  thread: CommentThread,
  marker: string,
  body: string,
  shrink?: Shrink,
): Promise<UpsertResult> {
  const existing = await findComment(thread, marker);
  const action = existing ? 'updated' : 'created';
  const write = (text: string) => {
    if (!text.includes(marker))
      throw new Error('comment body must carry its marker, or the next run cannot find it');
    return existing ? thread.update(existing.id, text) : thread.create(text);
  };
  try {
    return { action, comment: await write(body), body };
  } catch (e) {
    if (!shrink?.isTooLong(e)) throw e;
  }
  const smaller = shrink.smaller();
  try {
    return { action, comment: await write(smaller), body: smaller };
  } catch (e) {
    throw shrink.isTooLong(e) ? shrink.giveUp(e, smaller) : e;
  }
}
