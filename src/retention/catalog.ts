// The registry's repository list (`GET /v2/_catalog`), across pages (`Link: rel="next"`, or
// `n` + `last` when the registry sends a full page without a link). Only needed for
// extra_repositories globs; many hosted registries restrict or disable it.
import type { RegistryClient } from '../registry/client.js';
import { describeRef } from '../registry/context.js';
import { RegistryError } from '../registry/errors.js';
import { nextLink } from '../registry/link-header.js';
import { readBody, unexpected } from '../registry/response.js';
import { header } from '../registry/transport/types.js';

const PAGE_SIZE = 1000;

export async function listCatalog(client: RegistryClient, pageSize = PAGE_SIZE): Promise<string[]> {
  const ctx = client.context;
  const reference = describeRef(ctx.registry, '_catalog');
  const first = new URL('/v2/_catalog', ctx.baseUrl);
  first.searchParams.set('n', String(pageSize));
  const names: string[] = [];
  const asked = new Set<string>();
  let url: string | undefined = first.href;
  while (url && !asked.has(url)) {
    asked.add(url);
    // The catalog's scope (`registry:catalog:*`) is not a repository scope; registries that
    // require it answer 401 and the error below says so.
    const response = await ctx.send({
      method: 'GET',
      url,
      headers: { accept: 'application/json' },
      scope: null,
      reference,
      idempotent: true,
    });
    if (response.status !== 200) throw await unexpected(response, reference, 'cannot list the catalog');
    const page = parsePage(await readBody(response, 32 * 1024 * 1024, reference), reference);
    names.push(...page);
    url = nextLink(header(response, 'link'), response.url);
    if (!url && page.length === pageSize) {
      const next = new URL(first);
      next.searchParams.set('last', page[page.length - 1]!);
      url = next.href;
    }
  }
  return [...new Set(names)];
}

function parsePage(body: Buffer, reference: string): string[] {
  try {
    const json = JSON.parse(body.toString('utf8')) as { repositories?: unknown };
    const list = json.repositories ?? [];
    if (!Array.isArray(list) || !list.every((r) => typeof r === 'string'))
      throw new Error('"repositories" is not a list of strings');
    return list;
  } catch (e) {
    throw new RegistryError(reference, `malformed catalog (${(e as Error).message})`, { cause: e });
  }
}
