// Lists the registry hands out in pages (`/tags/list`, `/_catalog`): the registry's
// `Link: rel="next"` is followed when present; without it, a page the caller deems full means
// "ask again after the last entry" (`n` + `last`). One loop for both lists, so they page alike.
import type { Scope } from './auth/types.js';
import type { RegistryContext } from './context.js';
import { RegistryError } from './errors.js';
import { nextLink } from './link-header.js';
import { readBody, unexpected } from './response.js';
import { header } from './transport/types.js';

/** A list page is JSON of a few names each; this bounds a registry that sends garbage. */
const PAGE_LIMIT = 32 * 1024 * 1024;

export interface PagedListRequest {
  /** The first page's URL, with `n` when the caller asks for a page size. */
  first: URL;
  scope: Scope | null;
  /** Names the list in errors, e.g. `127.0.0.1:5000/ns/app`. */
  reference: string;
  /** The JSON field of a page that holds its strings: `tags`, `repositories`. */
  field: string;
  /** What the list is called when a page is malformed: `tag list`, `catalog`. */
  title: string;
  /** The reason given when the registry refuses; without it, the status says. */
  refusal?: string;
  /** No Link header: whether to ask for what follows this page's last entry (`last`). */
  hasMore: (page: readonly string[], fresh: readonly string[]) => boolean;
}

/** Every entry across pages, each once, in the order the registry first sent it. */
export async function getPagedList(ctx: RegistryContext, request: PagedListRequest): Promise<string[]> {
  const { first, reference } = request;
  const entries: string[] = [];
  const seen = new Set<string>();
  // A registry whose links (or `last`) lead back to a page already asked for ends the list.
  const asked = new Set<string>();
  let url: string | undefined = first.href;
  while (url && !asked.has(url)) {
    asked.add(url);
    const response = await ctx.send({
      method: 'GET',
      url,
      headers: { accept: 'application/json' },
      scope: request.scope,
      reference,
      idempotent: true,
      buffer: PAGE_LIMIT,
    });
    if (response.status !== 200) throw await unexpected(response, reference, request.refusal);
    const page = parsePage(await readBody(response, PAGE_LIMIT, reference), request);
    const fresh = page.filter((entry) => !seen.has(entry));
    for (const entry of fresh) seen.add(entry);
    entries.push(...fresh);
    url = nextLink(header(response, 'link'), response.url);
    const last = page[page.length - 1];
    if (!url && last !== undefined && request.hasMore(page, fresh)) {
      const next = new URL(first);
      next.searchParams.set('last', last);
      url = next.href;
    }
  }
  return entries;
}

function parsePage(body: Buffer, request: PagedListRequest): string[] {
  const { field, title, reference } = request;
  try {
    const json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    // An empty list may come as null or without the field (distribution: `"tags": null`).
    const page = json[field] ?? [];
    if (!Array.isArray(page) || !page.every((entry) => typeof entry === 'string'))
      throw new Error(`"${field}" is not a list of strings`);
    return page;
  } catch (e) {
    throw new RegistryError(reference, `malformed ${title} (${(e as Error).message})`, { cause: e });
  }
}
