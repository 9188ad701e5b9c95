// The tags of a repository, across pages: the registry's `Link: rel="next"` is followed when
// present; without it, a full page means "ask again after the last tag" (`n` + `last`).
import { describeRef, pullScope, type RegistryContext, repoPath } from './context.js';
import { RegistryError } from './errors.js';
import { nextLink } from './link-header.js';
import { readBody, unexpected } from './response.js';
import { header } from './transport/types.js';

export interface ListTagsOptions {
  /** `n`: tags per page. Without it the registry picks (distribution 2.8 returns all at once). */
  pageSize?: number;
}

export async function listTags(
  ctx: RegistryContext,
  repository: string,
  options: ListTagsOptions = {},
): Promise<string[]> {
  const reference = describeRef(ctx.registry, repository);
  const first = new URL(repoPath(repository, 'tags', 'list'), ctx.baseUrl);
  if (options.pageSize) first.searchParams.set('n', String(options.pageSize));
  const tags: string[] = [];
  const seen = new Set<string>();
  const asked = new Set<string>();
  let url: string | undefined = first.href;
  while (url && !asked.has(url)) {
    asked.add(url);
    const response = await ctx.send({
      method: 'GET',
      url,
      headers: { accept: 'application/json' },
      scope: pullScope(repository),
      reference,
      idempotent: true,
    });
    if (response.status !== 200) throw await unexpected(response, reference);
    const page = parseTagPage(await readBody(response, 32 * 1024 * 1024, reference), reference);
    const fresh = page.filter((t) => !seen.has(t));
    for (const tag of fresh) seen.add(tag);
    tags.push(...fresh);
    url = nextLink(header(response, 'link'), response.url);
    // No Link: a page of exactly n may have a successor (`last`). A longer page means the registry
    // ignores `n` (distribution 2.8 does) and the list is whole.
    if (!url && options.pageSize && page.length === options.pageSize && fresh.length > 0) {
      const next = new URL(first);
      next.searchParams.set('last', page[page.length - 1] ?? '');
      url = next.href;
    }
  }
  return tags;
}

function parseTagPage(body: Buffer, reference: string): string[] {
  try {
    const json = JSON.parse(body.toString('utf8')) as { tags?: unknown };
    const page = json.tags === null || json.tags === undefined ? [] : json.tags;
    if (!Array.isArray(page) || !page.every((t) => typeof t === 'string'))
      throw new Error('"tags" is not a list of strings');
    return page;
  } catch (e) {
    throw new RegistryError(reference, `malformed tag list (${(e as Error).message})`, { cause: e });
  }
}
