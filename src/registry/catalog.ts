// The registry's repository list (`GET /v2/_catalog`), across pages (see paginate.ts). Only
// needed for retention's extra_repositories globs; many hosted registries restrict or disable it.
import type { RegistryClient } from './client.js';
import { describeRef } from './context.js';
import { getPagedList } from './paginate.js';

const PAGE_SIZE = 1000;

export async function listCatalog(client: RegistryClient, pageSize = PAGE_SIZE): Promise<string[]> {
  const ctx = client.context;
  const first = new URL('/v2/_catalog', ctx.baseUrl);
  first.searchParams.set('n', String(pageSize));
  return getPagedList(ctx, {
    first,
    // The catalog's scope (`registry:catalog:*`) is not a repository scope; registries that
    // require it answer 401 and the refusal says so.
    scope: null,
    reference: describeRef(ctx.registry, '_catalog'),
    field: 'repositories',
    title: 'catalog',
    refusal: 'cannot list the catalog',
    hasMore: (page) => page.length === pageSize,
  });
}
