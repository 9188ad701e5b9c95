// Token scopes as the distribution spec writes them: `TYPE:NAME:ACTION[,ACTION…]`
// (e.g. `repository:openstack/keystone:pull,push`, `registry:catalog:*`). A name may hold a
// port (`repository:127.0.0.1:5000/x:pull` is legal), so TYPE ends at the first colon and the
// actions start after the last one.
import { formatScope, type Scope } from './types.js';

export interface ResourceScope {
  type: string;
  name: string;
  actions: string[];
}

export function parseScope(text: string): ResourceScope | undefined {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const actions = text
    .slice(last + 1)
    .split(',')
    .filter((a) => a !== '');
  return { type: text.slice(0, first), name: text.slice(first + 1, last), actions };
}

export function formatResourceScope(scope: ResourceScope): string {
  return `${scope.type}:${scope.name}:${[...new Set(scope.actions)].sort().join(',')}`;
}

export function fromScope(scope: Scope): ResourceScope {
  return parseScope(formatScope(scope))!;
}

/** Joins scopes on the same resource (pull + push on one repository → `pull,push`); stable order. */
export function mergeScopes(scopes: ResourceScope[]): ResourceScope[] {
  const merged = new Map<string, ResourceScope>();
  for (const s of scopes) {
    const key = `${s.type}:${s.name}`;
    const existing = merged.get(key);
    if (existing) existing.actions = [...new Set([...existing.actions, ...s.actions])].sort();
    else merged.set(key, { type: s.type, name: s.name, actions: [...new Set(s.actions)].sort() });
  }
  return [...merged.values()];
}

/** True when a token granted for `granted` serves a request needing `wanted` (`*` serves every action). */
export function covers(granted: ResourceScope[], wanted: ResourceScope[]): boolean {
  return wanted.every((w) =>
    granted.some(
      (g) =>
        g.type === w.type &&
        g.name === w.name &&
        (g.actions.includes('*') || w.actions.every((a) => g.actions.includes(a))),
    ),
  );
}

/** A canonical string for a set of scopes: the key tokens are cached and fetched under. */
export function scopeKey(scopes: ResourceScope[]): string {
  return mergeScopes(scopes).map(formatResourceScope).sort().join(' ');
}
