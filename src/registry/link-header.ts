// RFC 8288 `Link` headers, as registries send them for the next page of a list:
// `</v2/ns/x/tags/list?last=b&n=100>; rel="next"`.

/** The URL of the `rel="next"` link, resolved against the URL that was asked, or undefined. */
export function nextLink(value: string | undefined, base: URL): string | undefined {
  if (!value) return undefined;
  for (const part of value.split(/,(?=\s*<)/)) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (!match) continue;
    const params = match[2] ?? '';
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(params);
    const rels = (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/);
    if (rels.includes('next')) return new URL(match[1] ?? '', base).href;
  }
  return undefined;
}
