// The tags of a repository, across pages (see paginate.ts).
import { describeRef, pullScope, type RegistryContext, repoPath } from './context.js';
import { getPagedList } from './paginate.js';

export interface ListTagsOptions {
  /** `n`: tags per page. Without it the registry picks (distribution 2.8 returns all at once). */
  pageSize?: number;
}

export async function listTags(
  ctx: RegistryContext,
  repository: string,
  options: ListTagsOptions = {},
): Promise<string[]> {
  const first = new URL(repoPath(repository, 'tags', 'list'), ctx.baseUrl);
  if (options.pageSize) first.searchParams.set('n', String(options.pageSize));
  return getPagedList(ctx, {
    first,
    scope: pullScope(repository),
    reference: describeRef(ctx.registry, repository),
    field: 'tags',
    title: 'tag list',
    // A page of exactly n may have a successor. A longer page means the registry ignores `n`
    // (distribution 2.8 does) and the list is whole; a page of nothing new means it loops.
    hasMore: (page, fresh) =>
      Boolean(options.pageSize) && page.length === options.pageSize && fresh.length > 0,
  });
}
